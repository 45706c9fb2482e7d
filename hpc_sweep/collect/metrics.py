"""Canonical metric names and the TensorBoard tags that carry them across RSL-RL versions (one table, easy to extend).

RSL-RL renamed tags over its versions (``Loss/value_function`` -> ``Loss/value``, ``Policy/mean_noise_std`` ->
``Policy/mean_std``, ``Perf/collection time`` -> ``Perf/collection_time``, symmetry as ``Loss/symmetry`` or
``Loss/mirror_symmetry``). Collection maps each tag to its canonical metric here; other tags keep their own name.
"""

from __future__ import annotations

#: canonical metric -> tags that carry it, in order of preference (the first present one wins for a run).
METRIC_TAGS: dict[str, tuple[str, ...]] = {
    "mean_reward": ("Train/mean_reward",),
    "episode_length": ("Train/mean_episode_length",),
    "entropy": ("Loss/entropy",),
    "learning_rate": ("Loss/learning_rate",),
    "mirror_symmetry": ("Loss/mirror_symmetry", "Loss/symmetry"),
    "surrogate": ("Loss/surrogate",),
    "value_function": ("Loss/value_function", "Loss/value"),
    "noise_std": ("Policy/mean_noise_std", "Policy/mean_std"),
    "collection_time": ("Perf/collection time", "Perf/collection_time"),
    "learning_time": ("Perf/learning_time",),
    "total_fps": ("Perf/total_fps",),
}

#: The seed script's seven metrics plus episode length: these get ``final_<m>``/``<m>_progression`` result keys.
RESULT_METRICS: tuple[str, ...] = (
    "mean_reward",
    "entropy",
    "learning_rate",
    "mirror_symmetry",
    "surrogate",
    "value_function",
    "noise_std",
    "episode_length",
)

TAG_TO_METRIC: dict[str, str] = {tag: metric for metric, tags in METRIC_TAGS.items() for tag in tags}


def canonical_metric(tag: str) -> str | None:
    """The canonical metric a tag carries, or None for tags kept under their own name."""
    return TAG_TO_METRIC.get(tag)
