"""Notification after a sweep: ``--notify`` targets checked at the edge, the webhook kept secret, and its POST.

A webhook URL (Slack, Mattermost, ...) is a credential: whoever has it can post to the channel. So it never enters
``sweep.json``, a log, a dry run or an error message, nor a submitit pickle (submitit pickles a job's arguments into
the sweep's ``submitit/`` folder): it is written once, at submit time, to ``<sweep>/.notify`` with mode 0600
(created so, whatever the umask), and the collect job reads it from there when it runs. Error messages about a URL
show its scheme and nothing else. Mail goes through Slurm (``--mail-type`` on the collect job), so an address is no
secret and is recorded as given.

Only ``https://`` is accepted for webhooks, except plain ``http://`` to this machine (127.0.0.1, ::1, localhost), for
tests and local relays; a loopback URL is never sent through a proxy. The POST has a timeout and one retry (network
errors, 429 and 5xx: a 4xx other than 429 is a wrong URL, which asking again would not fix). Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hpc_sweep.errors import UsageError
from hpc_sweep.names import first_control
from hpc_sweep.resources import BY_NAME

#: The secret file inside a sweep dir: the webhook URLs, readable by the user only.
SECRET_NAME = ".notify"
SECRET_SCHEMA = "hpc_sweep.notify/1"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_MAIL_USER = re.compile(BY_NAME["mail_user"].pattern or ".+")
_MAX_URL = 2048
#: Seconds one POST may take, and the pause before its one retry.
POST_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 2.0


@dataclass(frozen=True)
class Targets:
    """Where a sweep's end is announced: one mail address (Slurm mails it) and any number of webhooks."""

    mail: str | None = None
    webhooks: tuple[str, ...] = ()


def check_notify(value: str) -> str:
    """A ``--notify`` value, checked: ``mailto:ADDR`` or ``https://HOST/...`` (``http://`` to this machine only).

    Raises: :class:`UsageError` with a one-line message that never repeats a URL (it may be a credential).
    """
    if not isinstance(value, str) or first_control(value) is not None or value != value.strip():
        raise UsageError("--notify: give mailto:ADDR or an https:// URL on one line, without spaces")
    if value.lower().startswith("mailto:"):
        address = value[len("mailto:") :]
        if not _MAIL_USER.fullmatch(address):
            raise UsageError(f"--notify {value!r}: give mailto: with an address such as mailto:me@lab.org")
        return f"mailto:{address}"
    scheme = value.partition(":")[0].lower() if ":" in value else ""
    if scheme not in ("https", "http"):
        raise UsageError("--notify: give mailto:ADDR or a webhook URL starting with https://")
    if len(value) > _MAX_URL or " " in value:
        raise UsageError(f"--notify: the {scheme}:// URL is too long or holds a space; check it")
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port  # port raises ValueError when it is not a number
    except ValueError:
        raise UsageError(f"--notify: the {scheme}:// URL cannot be read as a URL; check it") from None
    if not host or not value[len(scheme) :].startswith("://"):
        raise UsageError(f"--notify: the {scheme}:// URL names no host; check it")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"--notify: the {scheme}:// URL holds a user name or password before its host; remove them")
    if port == 0:
        raise UsageError(f"--notify: the {scheme}:// URL has port 0; check it")
    if scheme == "http" and host.lower() not in _LOOPBACK:
        raise UsageError("--notify: a webhook URL must start with https:// (plain http:// only to 127.0.0.1)")
    return value


def split_targets(values: Iterable[str]) -> Targets:
    """Checked ``--notify`` values as one mail address and the webhooks (Slurm mails one address per job)."""
    checked = [check_notify(value) for value in values]
    mails = sorted({value[len("mailto:") :] for value in checked if value.startswith("mailto:")})
    if len(mails) > 1:
        raise UsageError(f"--notify: give one mailto: address (Slurm mails one per job), not {len(mails)}")
    webhooks = tuple(dict.fromkeys(value for value in checked if not value.startswith("mailto:")))
    return Targets(mails[0] if mails else None, webhooks)


def secret_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / SECRET_NAME


def write_secret(sweep_dir: Path, webhooks: Iterable[str]) -> Path:
    """Write the webhook URLs to ``<sweep>/.notify``, mode 0600 from its creation (a temp file made with ``O_EXCL``
    and 0600, whatever the umask, then renamed over the old one, so no moment exists where others could read it)."""
    path = secret_path(sweep_dir)
    tmp = path.with_name(f"{SECRET_NAME}.{os.getpid()}.tmp")
    data = json.dumps({"schema": SECRET_SCHEMA, "webhooks": list(webhooks)}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_secret(sweep_dir: Path) -> list[str]:
    """The webhook URLs of a sweep (none when it has no secret file). The file is opened without following a link;
    one that others can read is still used (a plain ``cp`` widens modes), with a warning to fix it."""
    path = secret_path(sweep_dir)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return []
    except OSError as error:  # a link (O_NOFOLLOW), a permission problem
        print(f"hpc-sweep: warning: {path} cannot be read ({error.strerror}); no webhook posted", file=sys.stderr)
        return []
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_mode & 0o077:
            print(f"hpc-sweep: warning: {path} is readable by others; chmod 600 it", file=sys.stderr)
        try:
            document = json.loads(handle.read())
        except ValueError:
            document = None
    if not isinstance(document, dict) or not isinstance(document.get("webhooks"), list):
        print(f"hpc-sweep: warning: {path} is not a notify file of hpc-sweep; no webhook posted", file=sys.stderr)
        return []
    return [url for url in document["webhooks"] if isinstance(url, str)]


def _opener(url: str) -> urllib.request.OpenerDirector:
    """urllib's opener; for a loopback URL one that ignores ``http_proxy`` (a proxy cannot reach our 127.0.0.1)."""
    if (urlsplit(url).hostname or "").lower() in _LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def post_json(
    url: str, payload: dict[str, Any], timeout: float = POST_TIMEOUT_S, pause: float = RETRY_PAUSE_S
) -> str | None:
    """POST ``payload`` as JSON to ``url``, retrying once after ``pause`` seconds on a network error, a timeout,
    429 or 5xx. Returns None when it arrived, else what went wrong, in words that never hold the URL."""
    body = json.dumps(payload).encode()
    problem: str | None = None
    for attempt in range(2):
        if attempt:
            time.sleep(pause)
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with _opener(url).open(request, timeout=timeout) as response:
                response.read(65536)
            return None
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code}"
            if error.code < 500 and error.code != 429:
                return problem
        except (urllib.error.URLError, OSError, ValueError, HTTPException) as error:  # refused, DNS, timeout, TLS
            reason = getattr(error, "reason", error)
            problem = type(reason).__name__ if isinstance(reason, BaseException) else "network error"
            if isinstance(reason, OSError) and reason.strerror:
                problem = reason.strerror
    return f"{problem} (after 2 tries)"


def notify_webhooks(sweep_dir: Path, text: str) -> list[str]:
    """Post ``{"text": text}`` (what Slack and Mattermost read) to each webhook of the sweep; return one line per
    webhook that failed, numbered (``webhook 1: HTTP 404``), never with its URL."""
    failures = []
    for number, url in enumerate(read_secret(sweep_dir), start=1):
        problem = post_json(url, {"text": text})
        if problem is not None:
            failures.append(f"webhook {number}: {problem}")
    return failures
