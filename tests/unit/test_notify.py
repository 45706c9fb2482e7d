"""``--notify``: targets checked at the edge without echoing a URL, the webhook kept in a 0600 file, and its POST
(timeout, one retry) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpc_sweep.cli import main
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.notify import (
    check_notify,
    notify_webhooks,
    post_json,
    read_secret,
    secret_path,
    split_targets,
    write_secret,
)
from hpc_sweep.report.notice import best_group, group_line, notice_text

#: Characters a webhook path or token is made of (Slack's and Mattermost's tokens are letters and digits).
TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), min_size=8)


class Hook:
    """A webhook receiver on 127.0.0.1: records each POST body; answers with the next of ``codes`` (then 200)."""

    def __init__(self, codes: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.codes = list(codes or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                hook.paths.append(self.path)
                hook.bodies.append(json.loads(body))
                self.send_response(hook.codes.pop(0) if hook.codes else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.mark.parametrize(
    "value",
    ["mailto:me@lab.org", "mailto:jdoe", "https://hooks.slack.com/services/T0/B0/abc", "http://127.0.0.1:8080/x",
     "http://localhost/hook", "https://chat.lab.org:8065/hooks/xyz?channel=rl"],
)  # fmt: skip
def test_mailto_and_webhook_urls_are_accepted_as_given(value: str) -> None:
    assert check_notify(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "mailto:", "mailto:a b@c", "ftp://host/x", "hooks.slack.com/x", "https://", "https:///path", "https:host/x",
     "https://user:pw@host/x", "https://host:port/x", "https://host/x\n", " https://host/x", "file:///etc/passwd",
     "javascript:alert(1)"],
)  # fmt: skip
def test_anything_else_is_one_line_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_notify(value)
    assert "\n" not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(token=TOKEN, host=st.sampled_from(["hooks.example.org", "10.0.0.5", "chat.lab.org:8443"]))
def test_a_refused_url_is_never_repeated_in_the_error(token: str, host: str) -> None:
    """A plain-http webhook to another machine is refused, and the message holds none of the URL's secret part."""
    with pytest.raises(UsageError) as caught:
        check_notify(f"http://{host}/hooks/{token}")
    assert token not in str(caught.value) and host not in str(caught.value)
    assert check_notify(f"https://{host}/hooks/{token}").endswith(token)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_whatever_is_accepted_is_mail_or_a_web_url_on_one_line(text: str) -> None:
    try:
        value = check_notify(text)
    except UsageError as error:
        assert "\n" not in str(error)
        return
    assert value.lower().startswith(("mailto:", "https://", "http://127.0.0.1", "http://localhost", "http://[::1]"))
    assert value.isprintable() and " " not in value


def test_cli_refuses_a_bad_webhook_with_exit_2_and_without_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["submit", "--notify", "http://hooks.example.org/T0/SECRET-TOKEN", "--dry_run", "--executor", "local"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "SECRET-TOKEN" not in err and "https://" in err


def test_cli_refuses_an_unknown_then_step(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["submit", "--then", "email", "--dry_run"])
    assert exited.value.code == 2 and "--then" in capsys.readouterr().err


def test_one_mail_address_and_any_webhooks() -> None:
    targets = split_targets(["mailto:a@b.org", "https://x.org/1", "https://x.org/1", "https://y.org/2"])
    assert targets.mail == "a@b.org" and targets.webhooks == ("https://x.org/1", "https://y.org/2")
    with pytest.raises(UsageError, match="one mailto"):
        split_targets(["mailto:a@b.org", "mailto:c@d.org"])


def test_secret_file_is_0600_whatever_the_umask_and_reads_back(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = write_secret(tmp_path, ["https://hooks.example.org/T/SECRET"])
        write_secret(tmp_path, ["https://hooks.example.org/T/SECRET2"])  # replaced, still 0600
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path == secret_path(tmp_path)
    assert read_secret(tmp_path) == ["https://hooks.example.org/T/SECRET2"]
    assert [p.name for p in tmp_path.iterdir()] == [".notify"]  # no temp file left behind


def test_a_linked_or_missing_secret_file_posts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert read_secret(tmp_path) == []
    target = tmp_path / "elsewhere"
    write_secret(target.parent, ["https://x.org/1"])
    os.rename(secret_path(tmp_path), target)
    secret_path(tmp_path).symlink_to(target)
    assert read_secret(tmp_path) == []
    assert "cannot be read" in capsys.readouterr().err


def test_post_arrives_as_slack_json(hook: Hook) -> None:
    assert post_json(f"{hook.url}/hooks/abc", {"text": "hello"}) is None
    assert hook.bodies == [{"text": "hello"}] and hook.paths == ["/hooks/abc"]


def test_one_retry_after_a_server_error() -> None:
    server = Hook(codes=[503])
    try:
        assert post_json(f"{server.url}/h", {"text": "x"}, pause=0.01) is None
        assert len(server.bodies) == 2
    finally:
        server.close()


def test_a_wrong_url_is_not_retried_and_the_failure_names_no_url() -> None:
    server = Hook(codes=[404, 404])
    try:
        assert post_json(f"{server.url}/SECRET", {"text": "x"}, pause=0.01) == "HTTP 404"
        assert len(server.bodies) == 1
    finally:
        server.close()


def test_a_server_that_does_not_answer_times_out_twice() -> None:
    server = Hook(delay_s=1.0)
    try:
        started = time.monotonic()
        problem = post_json(f"{server.url}/SECRET", {"text": "x"}, timeout=0.2, pause=0.01)
        assert problem is not None and "after 2 tries" in problem and "SECRET" not in problem
        assert time.monotonic() - started < 2.0
    finally:
        server.close()


def test_nobody_listening_is_reported_without_the_url() -> None:
    server = Hook()
    url = server.url
    server.close()  # the port is free again: the POST is refused
    problem = post_json(f"{url}/SECRET", {"text": "x"}, timeout=1, pause=0.01)
    assert problem is not None and "SECRET" not in problem and "127.0.0.1" not in problem


def test_notify_webhooks_posts_to_each_url_of_the_secret_file(tmp_path: Path, hook: Hook) -> None:
    write_secret(tmp_path, [f"{hook.url}/a", f"{hook.url}/b"])
    assert notify_webhooks(tmp_path, "done") == []
    assert sorted(hook.paths) == ["/a", "/b"] and all(body == {"text": "done"} for body in hook.bodies)


def _results(tmp_path: Path) -> Path:
    results = {
        "experiments": [{"status": "completed"}] * 3 + [{"status": "failed"}],
        "groups": [
            {"group": "lr=0.001", "n": 2, "iqm": 10.0, "iqm_ci": [9.0, 11.0]},
            {"group": "lr=0.0003", "n": 1, "iqm": 12.5, "iqm_ci": [None, None]},
            {"group": "lr=0.1", "n": 0, "iqm": None, "iqm_ci": [None, None]},
        ],
    }
    (tmp_path / "training_results.json").write_text(json.dumps(results))
    (tmp_path / "training_analysis.png").write_bytes(b"png")
    return tmp_path


def test_notice_names_counts_best_group_by_iqm_and_existing_figures(tmp_path: Path) -> None:
    sweep = _results(tmp_path)
    text = notice_text(sweep, [sweep / "training_analysis.png", sweep / "comparison.png"], ["compare --by x: nope"])
    assert "3 of 4 runs completed, 1 failed" in text
    assert "best group `lr=0.0003`: IQM 12.5 (no CI: one run), n=1" in text
    assert f"figures: {sweep / 'training_analysis.png'}" in text and "comparison.png" not in text
    assert text.endswith("problem: compare --by x: nope")
    assert best_group([{"group": "a", "iqm": 1.0, "iqm_ci": [0.5, 1.5]}])["group"] == "a"


def test_notice_without_results_says_collect_did_not_finish(tmp_path: Path) -> None:
    assert "collect did not finish" in notice_text(tmp_path)


def test_notice_gives_the_best_groups_iqm_with_its_ci() -> None:
    group = {"group": "lr=0.001", "n": 5, "iqm": 12.34, "iqm_ci": [11.0, 13.5]}
    assert group_line(group) == "best group `lr=0.001`: IQM 12.34 (95% CI 11 to 13.5), n=5"
