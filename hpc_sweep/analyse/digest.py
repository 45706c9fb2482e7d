"""A run's curve kept small: per-bin count, mean, min and max on power-of-two bins of steps (pure numpy).

A 1000-run sweep cannot keep every point of every curve in memory to draw one figure, and a figure cannot show more
points than its axes have pixel columns anyway. So collection reduces each curve to a :class:`CurveDigest` of at most
about ``max_points`` bins as it reads the run, and the figure draws from digests only.

Why these choices:

* Bins are aligned at step 0 with a power-of-two width (bin ``k`` covers ``[k * w, (k + 1) * w)``), so digests of
  runs of different lengths merge exactly: :func:`rebin` to a wider width gives what a direct digest at that width
  would, and every run of a group shares one bin axis (:func:`group_band`).
* Each bin keeps its min and max and the steps where they first occur, so a drawn line (:func:`polyline`) passes
  through both, where and in the order they happened (the M4 idea: per pixel column, the extremes give the picture
  of every point). A spike of one iteration survives digestion, where an average would hide it; and lines of many
  runs digested onto few bins do not zigzag in step with each other, as they would if every extreme were drawn at
  the same place in its bin.
* Non-finite values (NaN, a diverged inf) are not in ``count``, ``mean``, ``low`` or ``high``: a bin whose points
  are all non-finite stays, with ``count`` 0 and NaN statistics, so the line breaks there as it does on raw data.
* At width 1 a digest is the curve itself: ``low == high == mean == value`` at each logged step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from hpc_sweep.analyse.curves import STD_BAND, CurveBand, mean_std_curve

DEFAULT_MAX_POINTS = 1000
"""Bins per digest, at most about this many: more than a panel has pixel columns, small enough for 1000s of runs."""

FIGURE_BINS = 300
"""Bins across a figure's curve panel (about 550 pixels wide; each bin's line passes through its min and max): the
figure draws no finer, so the digests a collect keeps for it need no more."""

_FIELDS = ("bin", "count", "mean", "low", "high", "low_step", "high_step")


@dataclass(frozen=True, eq=False)
class CurveDigest:
    """One curve on bins of ``width`` steps: one entry per bin holding at least one logged point.

    ``width``: a power of two; ``bin``: int64, ascending, shape ``(num_bins,)``, bin ``k`` covering steps
    ``[k * width, (k + 1) * width)``; ``count``: int64, finite points in the bin; ``mean``, ``low``, ``high``: float64,
    the mean, min and max of those (NaN when ``count`` is 0); ``low_step``, ``high_step``: int64, the step of the
    bin's first minimum and first maximum (its first logged step when ``count`` is 0).
    """

    width: int
    bin: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    low_step: np.ndarray
    high_step: np.ndarray

    def __post_init__(self) -> None:
        if self.width < 1 or self.width & (self.width - 1):
            raise ValueError(f"a digest's bin width must be a power of two, not {self.width}")
        sizes = {np.shape(getattr(self, name)) for name in _FIELDS}
        if len(sizes) != 1 or len(sizes.pop()) != 1:
            raise ValueError("a digest's per-bin arrays must be one-dimensional and of one length")

    @property
    def num_bins(self) -> int:
        return int(self.bin.size)

    @property
    def centres(self) -> np.ndarray:
        """Each bin's centre in steps, float64: at width 1, the logged step itself."""
        return self.bin * float(self.width) + (self.width - 1) / 2.0


def bin_width_for(span: int, max_points: int = DEFAULT_MAX_POINTS) -> int:
    """The smallest power of two ``w`` with ``span / w < max_points`` (``span``: last step minus first step)."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, not {max_points}")
    width = 1
    while span / width >= max_points:
        width *= 2
    return width


def _first_index_where(hit: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment (segments begin at ``starts``), the first position where ``hit`` holds; ``len(hit)`` if none."""
    index = np.where(hit, np.arange(hit.size), hit.size)
    return np.minimum.reduceat(index, starts)


def _segment_starts(*keys: np.ndarray) -> np.ndarray:
    """Where a run of equal consecutive entries begins: any of ``keys`` (same length, at least 1) changes."""
    change = np.zeros(keys[0].size, dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def _merge(starts: np.ndarray, count: np.ndarray, total: np.ndarray, low: np.ndarray, high: np.ndarray,
           low_step: np.ndarray, high_step: np.ndarray) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Merge each segment of entries (beginning at ``starts``, in step order): sums of ``count``/``total``, min of
    ``low``, max of ``high`` (NaN entries ignored), and the steps of the first entry holding each.

    Returns: ``count``, ``mean``, ``low``, ``high``, ``low_step``, ``high_step``, each ``(num_segments,)``.
    """
    counts = np.add.reduceat(count, starts)
    totals = np.add.reduceat(total, starts)
    with np.errstate(invalid="ignore"):
        lows = np.fmin.reduceat(low, starts)
        highs = np.fmax.reduceat(high, starts)
    lengths = np.diff(np.r_[starts, count.size])
    first_low = _first_index_where(low == np.repeat(lows, lengths), starts)
    first_high = _first_index_where(high == np.repeat(highs, lengths), starts)
    empty = counts == 0  # nothing equals a NaN extreme: the segment's first step stands in
    low_steps = low_step[np.where(empty, starts, np.minimum(first_low, count.size - 1))]
    high_steps = high_step[np.where(empty, starts, np.minimum(first_high, count.size - 1))]
    means = np.full(starts.size, np.nan)
    np.divide(totals, counts, out=means, where=counts > 0)
    return counts, means, lows, highs, low_steps, high_steps


def digest_curve(steps: np.ndarray, values: np.ndarray, max_points: int = DEFAULT_MAX_POINTS) -> CurveDigest:
    """Digest one curve onto the narrowest power-of-two bins that give fewer than ``max_points`` bins' span.

    Args:
        steps: shape ``(n,)``, int, ascending and unique (iterations, or env steps: up to about 1e18).
        values: shape ``(n,)``, the metric at each step; NaN/inf are kept out of the statistics.

    Returns: the digest; at width 1 (the curve spans fewer than ``max_points`` steps) it is the curve exactly.
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(f"steps and values must be 1-d of one length, not {steps.shape} and {values.shape}")
    if steps.size > 1 and not (np.diff(steps) > 0).all():
        raise ValueError("steps must be ascending and unique")
    width = bin_width_for(int(steps[-1] - steps[0]) if steps.size else 0, max_points)
    if not steps.size:
        empty = np.empty(0)
        return CurveDigest(width, steps, steps.copy(), empty, empty.copy(), empty.copy(), steps.copy(), steps.copy())
    finite = np.isfinite(values)
    bins = steps // width
    starts = _segment_starts(bins)
    kept = np.where(finite, values, np.nan)
    merged = _merge(starts, finite.astype(np.int64), np.where(finite, values, 0.0), kept, kept, steps, steps)
    return CurveDigest(width, bins[starts], *merged)


def _split_rows(points: np.ndarray, run: np.ndarray) -> list[np.ndarray]:
    """``points`` cut where ``run`` changes (views; cheaper than ``np.split`` for a thousand pieces)."""
    bounds = [0, *(np.flatnonzero(run[1:] != run[:-1]) + 1).tolist(), run.size]
    return [points[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class DigestStack:
    """Several runs' digests on one bin width, concatenated: what a figure draws a group from, in a few vectorised
    passes instead of one small numpy call per run and bin.

    ``num_runs``: the runs with at least one bin; ``run``: shape ``(total_bins,)``, whose each bin is (``0 ..
    num_runs - 1``); the other arrays as in :class:`CurveDigest`, runs one after the other.
    """

    width: int
    num_runs: int
    run: np.ndarray
    bin: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    low_step: np.ndarray
    high_step: np.ndarray

    @classmethod
    def of(cls, digests: list[CurveDigest], width: int = 1) -> DigestStack:
        """The digests that have a bin, rebinned to ``width`` or the widest one's width, whichever is wider."""
        digests = [d for d in digests if d.num_bins]
        width = max(width, common_width(digests))
        if width & (width - 1):
            raise ValueError(f"a digest's bin width must be a power of two, not {width}")
        sizes = [d.num_bins for d in digests]
        run = np.repeat(np.arange(len(digests)), sizes)
        parts = [np.concatenate([getattr(d, name) for d in digests]) if digests else np.empty(0) for name in _FIELDS]
        factor = np.repeat([width // d.width for d in digests], sizes).astype(np.int64)
        return cls(1, len(digests), run, *parts)._merged(factor, width)

    def rebin(self, width: int) -> DigestStack:
        """Every run on bins of ``width`` (a power of two at least :attr:`width`), as :func:`rebin` would each."""
        if width < self.width or width & (width - 1):
            raise ValueError(f"can only rebin to a wider power of two than {self.width}, not {width}")
        return self._merged(np.full(self.bin.size, width // self.width, dtype=np.int64), width)

    def _merged(self, factor: np.ndarray, width: int) -> DigestStack:
        """Each entry's bin divided by its ``factor``, and the entries then sharing a run and bin merged."""
        if not self.bin.size or (factor == 1).all():
            return replace(self, width=width)
        bins = self.bin.astype(np.int64) // factor
        starts = _segment_starts(self.run, bins)
        total = np.where(self.count > 0, self.mean * self.count, 0.0)
        merged = _merge(starts, self.count, total, self.low, self.high, self.low_step, self.high_step)
        return DigestStack(width, self.num_runs, self.run[starts], bins[starts], *merged)

    def digests(self) -> list[CurveDigest]:
        """The runs' digests again, one per run, in order."""
        columns = [_split_rows(getattr(self, name), self.run) for name in _FIELDS]
        return [CurveDigest(self.width, *parts) for parts in zip(*columns, strict=True)] if self.num_runs else []

    def centres(self) -> np.ndarray:
        """Each entry's bin centre in steps (float64)."""
        return self.bin * float(self.width) + (self.width - 1) / 2.0

    def lines(self, extremes: bool = True) -> list[np.ndarray]:
        """Each run's line as an ``(n, 2)`` array of ``(x, y)`` (what a ``LineCollection`` takes).

        ``extremes``: through each bin's min and max (:func:`polyline`); else through each bin's mean at its centre,
        a smooth line for when many runs share a panel at few bins each (extremes of bins a dozen pixels wide, drawn
        for a thousand overlaid runs, pinch at every bin edge into a pattern the data does not have).
        """
        if not self.num_runs:
            return []
        if extremes:
            run, x, y = _polyline_points(self)
        else:
            run, x, y = self.run, self.centres(), self.mean
        return _split_rows(np.column_stack([x, y]), run)

    def band(self) -> CurveBand | None:
        """Mean ± 1 std across runs of their bin means, on the union of their bins (see :func:`group_band`)."""
        if not self.num_runs:
            return None
        bins, column = _bin_columns(self.bin)
        curves = np.full((self.num_runs, bins.size), np.nan)
        curves[self.run, column] = self.mean
        mean, std = mean_std_curve(curves)
        steps = bins * float(self.width) + (self.width - 1) / 2.0
        return CurveBand(steps=steps, curves=curves, centre=mean, low=mean - std, high=mean + std, kind=STD_BAND)


def rebin(digest: CurveDigest, width: int) -> CurveDigest:
    """The digest on coarser bins of ``width`` (a power of two, at least ``digest.width``): count, mean, min, max and
    their steps merged exactly, as :func:`digest_curve` at that width would give them (the mean up to rounding)."""
    if width == digest.width:
        return digest
    if width < digest.width:
        raise ValueError(f"can only rebin to a wider power of two than {digest.width}, not {width}")
    merged = DigestStack.of([digest], width)
    return CurveDigest(width, *(getattr(merged, name) for name in _FIELDS))


def _polyline_points(stack: DigestStack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``run``, ``x``, ``y`` of every drawn point of a stack, in order (see :func:`polyline`)."""
    two = stack.low < stack.high  # False for NaN too
    min_first = stack.low_step <= stack.high_step
    x = np.column_stack([np.where(min_first, stack.low_step, stack.high_step),
                         np.where(min_first, stack.high_step, stack.low_step)]).ravel()  # fmt: skip
    y = np.column_stack([np.where(min_first, stack.low, stack.high),
                         np.where(min_first, stack.high, stack.low)]).ravel()  # fmt: skip
    keep = np.column_stack([np.ones_like(two), two]).ravel()
    return np.repeat(stack.run, 2)[keep], x[keep].astype(np.float64), y[keep]


def polyline(digest: CurveDigest) -> tuple[np.ndarray, np.ndarray]:
    """The line to draw for one run: ``(x, y)``, through each bin's min and max at their steps, in step order.

    One point per bin where min and max are one value (always at width 1: the curve itself), two otherwise; a bin
    of only non-finite points gives a NaN point (the line breaks there).
    """
    if not digest.num_bins:
        return np.empty(0), np.empty(0)
    _, x, y = _polyline_points(DigestStack.of([digest]))
    return x, y


def polylines(digests: list[CurveDigest], width: int = 1, extremes: bool = True) -> list[np.ndarray]:
    """Each run's line at ``width`` or the widest digest's width, whichever is wider (:meth:`DigestStack.lines`);
    runs without a bin are left out."""
    return DigestStack.of(digests, width).lines(extremes)


def common_width(digests: list[CurveDigest]) -> int:
    """The widest bin width among ``digests`` (1 for none): the width they can all be rebinned to."""
    return max((d.width for d in digests), default=1)


def _bin_columns(bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct ``bins`` and each entry's column among them (a dense table when the bins are close)."""
    first, last = int(bins.min()), int(bins.max())
    if last - first > 4 * bins.size:
        union = np.unique(bins)
        return union, np.searchsorted(union, bins)
    present = np.zeros(last - first + 1, dtype=bool)
    present[bins - first] = True
    column = np.cumsum(present) - 1
    return np.flatnonzero(present) + first, column[bins - first]


def group_band(digests: list[CurveDigest], width: int = 1) -> CurveBand | None:
    """Mean ± 1 std across runs of their bin means, on the union of their bins at ``width`` or their widest width.

    ``steps``: bin centres (the steps themselves at width 1, where the band equals
    :func:`~hpc_sweep.analyse.curves.std_band` of the raw curves); ``curves``: shape ``(num_runs, num_bins)``, each
    run's bin means, NaN where it has no finite point; std with ``ddof=1``, NaN where fewer than 2 runs have a point.
    Runs without a bin are left out; None when no run has one. Figures then apply
    :func:`~hpc_sweep.analyse.curves.require_runs`.
    """
    return DigestStack.of(digests, width).band()
