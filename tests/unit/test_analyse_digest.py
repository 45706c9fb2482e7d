"""Curve digests keep what a figure needs of a curve: checked against a brute-force per-bin reference on arbitrary
curves (NaN and inf among the values, steps far from 0 and as large as env steps), through rebinning, the drawn
line (every bin's min and max on it, at their steps), the group band (equal to ``std_band`` at width 1) and the
``.npz`` round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpc_sweep.analyse.curves import require_runs, std_band
from hpc_sweep.analyse.digest import (
    CurveDigest,
    DigestStack,
    bin_width_for,
    digest_curve,
    group_band,
    polyline,
    polylines,
    rebin,
)
from hpc_sweep.report.run_products import ProductCache, digests_bytes, load_curves

VALUES = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0]),  # repeats make ties between a bin's points
)


@st.composite
def curves(draw: st.DrawFn, max_size: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Ascending unique steps, from anywhere up to env-step sizes, with values that may be NaN or inf."""
    offset = draw(st.sampled_from([0, 1, 7, 1000, 98_304 * 10_000, 2**40]))
    scale = draw(st.sampled_from([1, 3, 24 * 4096]))
    raw = draw(st.sets(st.integers(0, 500), min_size=1, max_size=max_size))
    steps = offset + scale * np.array(sorted(raw), dtype=np.int64)
    values = np.array(draw(st.lists(VALUES, min_size=steps.size, max_size=steps.size)), dtype=np.float64)
    return steps, values


def reference(steps: np.ndarray, values: np.ndarray, width: int) -> dict[str, list]:
    """Per non-empty bin, by a loop: count, mean, min, max of the finite values, and the steps of the first min/max
    (the bin's first step when no value is finite)."""
    out: dict[str, list] = {k: [] for k in ("bin", "count", "mean", "low", "high", "low_step", "high_step")}
    for k in np.unique(steps // width):
        inside = steps // width == k
        s, v = steps[inside], values[inside]
        finite = np.isfinite(v)
        out["bin"].append(k)
        out["count"].append(int(finite.sum()))
        if finite.any():
            f, fs = v[finite], s[finite]
            out["mean"].append(f.mean())
            out["low"].append(f.min())
            out["high"].append(f.max())
            out["low_step"].append(fs[np.argmin(f)])
            out["high_step"].append(fs[np.argmax(f)])
        else:
            out["mean"].append(np.nan)
            out["low"].append(np.nan)
            out["high"].append(np.nan)
            out["low_step"].append(s[0])
            out["high_step"].append(s[0])
    return out


def assert_matches(digest: CurveDigest, expected: dict[str, list]) -> None:
    for name in ("bin", "count", "low_step", "high_step"):
        np.testing.assert_array_equal(getattr(digest, name), expected[name], err_msg=name)
    for name in ("low", "high"):
        np.testing.assert_array_equal(getattr(digest, name), expected[name], err_msg=name)  # NaN == NaN here
    np.testing.assert_allclose(digest.mean, expected["mean"], rtol=1e-9, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(curves(), st.integers(1, 60))
def test_a_digest_holds_each_bins_count_mean_min_max_and_their_steps(
    curve: tuple[np.ndarray, np.ndarray], max_points: int
) -> None:
    steps, values = curve
    digest = digest_curve(steps, values, max_points)
    span = int(steps[-1] - steps[0])
    assert span / digest.width < max_points
    assert digest.width == 1 or span / (digest.width // 2) >= max_points  # the narrowest power of two that fits
    assert_matches(digest, reference(steps, values, digest.width))


@settings(max_examples=150, deadline=None)
@given(curves(), st.integers(0, 8))
def test_rebinning_equals_digesting_at_the_wider_width(curve: tuple[np.ndarray, np.ndarray], doublings: int) -> None:
    steps, values = curve
    fine = digest_curve(steps, values, max_points=10_000)
    wide = rebin(fine, fine.width * 2**doublings)
    assert_matches(wide, reference(steps, values, wide.width))
    twice = rebin(rebin(fine, fine.width * 2), wide.width) if doublings else wide
    assert_matches(twice, reference(steps, values, wide.width))


@settings(max_examples=150, deadline=None)
@given(curves(), st.integers(0, 8))
def test_the_drawn_line_passes_through_every_bins_min_and_max_at_their_steps(
    curve: tuple[np.ndarray, np.ndarray], doublings: int
) -> None:
    steps, values = curve
    digest = digest_curve(steps, values, max_points=10_000)
    digest = rebin(digest, digest.width * 2**doublings)
    x, y = polyline(digest)
    assert (np.diff(x) > 0).all()  # in step order, each point once
    assert x.size <= 2 * digest.num_bins
    drawn = dict(zip(x.tolist(), y.tolist(), strict=True))
    for count, low, high, low_step, high_step in zip(
        digest.count, digest.low, digest.high, digest.low_step, digest.high_step, strict=True
    ):
        if count:
            assert drawn[float(low_step)] == low
            assert drawn[float(high_step)] == high
        else:
            assert np.isnan(drawn[float(low_step)])  # a break in the line
    finite = values[np.isfinite(values)]
    if finite.size:
        assert np.nanmin(y) == finite.min() and np.nanmax(y) == finite.max()


@settings(max_examples=100, deadline=None)
@given(curves(max_size=40))
def test_at_width_one_a_digest_is_the_curve_itself(curve: tuple[np.ndarray, np.ndarray]) -> None:
    steps, values = curve
    digest = digest_curve(steps, values, max_points=10**12)  # a span under max_points: width 1
    assert digest.width == 1
    np.testing.assert_array_equal(digest.bin, steps)
    shown = np.where(np.isfinite(values), values, np.nan)
    for name in ("mean", "low", "high"):
        np.testing.assert_array_equal(getattr(digest, name), shown)
    x, y = polyline(digest)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, shown)


@settings(max_examples=100, deadline=None)
@given(st.lists(curves(max_size=30), min_size=1, max_size=6))
def test_the_group_band_at_width_one_is_std_band(runs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    runs = [(steps % 997, values) for steps, values in runs]  # spans under 1000 steps: every digest at width 1
    runs = [(s[order], v[order]) for s, v in runs for order in [np.unique(s, return_index=True)[1]]]
    runs = [(s, np.where(np.isinf(v), np.nan, v)) for s, v in runs]  # std_band takes inf into its mean; we do not
    band = group_band([digest_curve(s, v) for s, v in runs])
    expected = std_band(runs)
    assert band is not None and expected is not None
    np.testing.assert_array_equal(band.steps, expected.steps)
    np.testing.assert_array_equal(band.curves, expected.curves)
    for name in ("centre", "low", "high"):
        np.testing.assert_allclose(getattr(band, name), getattr(expected, name), rtol=1e-12, atol=1e-9)
    assert band.kind == expected.kind


def test_the_group_band_aligns_runs_of_different_widths_on_the_widest() -> None:
    short = digest_curve(np.arange(100), np.arange(100.0))  # width 1
    long = digest_curve(np.arange(4000), np.arange(4000.0))  # width 4
    band = group_band([short, long, long])
    assert band is not None and long.width == 4
    assert band.curves.shape == (3, 1000)
    np.testing.assert_array_equal(band.steps[:2], [1.5, 5.5])  # bin centres
    np.testing.assert_allclose(band.curves[:, 0], [1.5, 1.5, 1.5])  # bin means of 0..3
    assert np.isnan(band.curves[0, 25])  # the short run ends at step 99
    assert band.runs_per_step[25] == 2 and band.runs_per_step[0] == 3
    thin = require_runs(band)  # what the figure shades: only where 3 runs have a point
    assert np.isnan(thin.low[25]) and np.isfinite(thin.low[0])


def test_non_finite_points_stay_out_of_the_statistics_but_keep_their_bin() -> None:
    digest = digest_curve(np.array([10, 11, 12, 13]), np.array([np.nan, np.inf, 2.0, -np.inf]), max_points=1)
    assert digest.width == 4 and digest.bin.tolist() == [2, 3]
    assert digest.count.tolist() == [0, 1]
    assert np.isnan(digest.mean[0]) and digest.low_step[0] == 10
    assert digest.mean[1] == digest.low[1] == digest.high[1] == 2.0
    x, y = polyline(digest)
    assert x.tolist() == [10.0, 12.0] and np.isnan(y[0]) and y[1] == 2.0


def test_one_point_and_no_point() -> None:
    one = digest_curve(np.array([1_000_000_007]), np.array([3.5]))
    assert one.width == 1 and one.bin.tolist() == [1_000_000_007] and one.mean.tolist() == [3.5]
    assert [a.tolist() for a in polyline(one)] == [[1_000_000_007.0], [3.5]]
    none = digest_curve(np.array([], dtype=np.int64), np.array([]))
    assert none.num_bins == 0 and [a.size for a in polyline(none)] == [0, 0]
    assert group_band([none]) is None and polylines([none]) == []


def test_env_step_curves_get_wide_bins_of_few_points() -> None:
    steps = np.arange(1, 3001, dtype=np.int64) * 98_304  # 3000 iterations of 24 x 4096 env steps
    digest = digest_curve(steps, np.sin(np.arange(3000) / 50.0))
    assert digest.width == bin_width_for(int(steps[-1] - steps[0])) == 2**19
    assert digest.num_bins <= 1001 and digest.count.sum() == 3000
    assert (digest.low_step // digest.width == digest.bin).all()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="ascending"):
        digest_curve(np.array([2, 1]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-d"):
        digest_curve(np.arange(3), np.zeros(2))
    digest = digest_curve(np.arange(3000), np.zeros(3000))
    with pytest.raises(ValueError, match="wider power of two"):
        rebin(digest, digest.width // 2)
    with pytest.raises(ValueError, match="power of two"):
        rebin(digest, digest.width * 3)


FIELDS = ("bin", "count", "mean", "low", "high", "low_step", "high_step")


def test_digests_round_trip_through_the_collect_cache_without_pickle(tmp_path: Path) -> None:
    digest = digest_curve(np.arange(5000) * 7, np.where(np.arange(5000) % 97 == 0, np.nan, np.cos(np.arange(5000))))
    short = digest_curve(np.arange(3), np.array([1.0, np.inf, -2.0]))
    cache = ProductCache(tmp_path)
    cache.runs.mkdir(parents=True)
    cache.digests("run").write_bytes(digests_bytes({"mean_reward": digest, "entropy": short}))
    back = load_curves(cache, "run", ["mean_reward", "entropy"])
    for name, original in (("mean_reward", digest), ("entropy", short)):
        assert back[name].width == original.width
        for field in FIELDS:
            again, array = getattr(back[name], field), getattr(original, field)
            np.testing.assert_array_equal(again, array, err_msg=f"{name}.{field}")
            assert again.dtype == array.dtype


def test_a_stack_rebins_every_run_as_rebin_does_each_and_draws_their_lines() -> None:
    rng = np.random.default_rng(0)
    digests = [digest_curve(np.arange(n) + start, rng.normal(size=n)) for n, start in ((3000, 0), (1500, 40), (9, 2))]
    stack = DigestStack.of(digests, 64)
    assert stack.num_runs == 3 and stack.width == 64
    for mine, expected in zip(stack.digests(), [rebin(d, 64) for d in digests], strict=True):
        for name in ("width", *FIELDS):
            np.testing.assert_array_equal(getattr(mine, name), getattr(expected, name))
    lines = stack.lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[2], np.column_stack(polyline(rebin(digests[2], 64))))
    means = stack.lines(extremes=False)
    np.testing.assert_array_equal(means[0][:, 1], rebin(digests[0], 64).mean)
    np.testing.assert_array_equal(means[0][:, 0], rebin(digests[0], 64).centres)
