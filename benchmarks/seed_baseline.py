"""The seed script's way of collecting a multi-seed sweep: the baseline row of ``collect_bench.py``'s end-to-end table.

What ``multi_run_training.py`` did after its runs (per ``shared/seed/multi_run_training_README.md``): read each run's
TensorBoard files with tensorboard's ``EventAccumulator`` (keeping every scalar: ``size_guidance`` scalars 0) for its
7 metrics (``Train/mean_reward``, ``Loss/entropy``, ``Loss/learning_rate``, ``Loss/mirror_symmetry``,
``Loss/surrogate``, ``Loss/value_function``, ``Policy/mean_noise_std``), derive the final and convergence numbers of
the reward, write ``training_results.json`` with ``json.dump`` (experiment metadata; per experiment the final metrics
and the progression lists) and draw ``training_analysis.png``: six panels (final reward by seed, reward curves per
seed, then entropy, surrogate loss, value-function loss and learning rate per seed). The README does not give the
figure's resolution; this draws it at 150 dpi.

    python benchmarks/seed_baseline.py <log root> <output dir>
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

METRICS = {
    "reward": "Train/mean_reward",
    "entropy": "Loss/entropy",
    "learning_rate": "Loss/learning_rate",
    "mirror_symmetry": "Loss/mirror_symmetry",
    "surrogate_loss": "Loss/surrogate",
    "value_function_loss": "Loss/value_function",
    "noise_std": "Policy/mean_noise_std",
}
PANELS = [
    ("entropy", "Entropy Evolution"),
    ("surrogate_loss", "Surrogate Loss Evolution"),
    ("value_function_loss", "Value Function Loss Evolution"),
    ("learning_rate", "Learning Rate Evolution"),
]


def extract_tensorboard_metrics(run_dir: Path) -> dict:
    """One run's metrics as the seed extracted them: every point of its 7 tags, then the reward analysis."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    available = set(accumulator.Tags()["scalars"])
    metrics: dict = {}
    for name, tag in METRICS.items():
        if tag not in available:
            continue
        events = accumulator.Scalars(tag)
        metrics[f"{name}_progression"] = [event.value for event in events]
        metrics[f"{name}_steps"] = [event.step for event in events]
        metrics[f"final_{name}"] = events[-1].value if events else None
    rewards = metrics.get("reward_progression", [])
    if rewards:
        tail = rewards[-max(1, len(rewards) // 5) :]  # convergence stability: the final 20% of training
        mean = sum(tail) / len(tail)
        metrics["final_reward_mean"] = rewards[-1]
        metrics["max_reward_achieved"] = max(rewards)
        metrics["convergence_stability"] = (sum((r - mean) ** 2 for r in tail) / len(tail)) ** 0.5
        metrics["improvement_rate"] = (rewards[-1] - rewards[0]) / len(rewards)
        metrics["training_iterations"] = len(rewards)
    return metrics


def seed_of(run_dir: Path) -> int | str:
    """The seed in an Isaac Lab run dir name (``..._seed42``), else the name."""
    digits = run_dir.name.rsplit("seed", 1)[-1]
    return int(digits) if digits.isdigit() else run_dir.name


def main(root: Path, output_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    started = time.time()
    experiments = []
    for run_dir in sorted({path.parent for path in root.rglob("events.out.tfevents.*")}):
        experiments.append(
            {
                "experiment_id": run_dir.name,
                "seed": seed_of(run_dir),
                "status": "completed",
                "log_dir": str(run_dir),
                "training_metrics": extract_tensorboard_metrics(run_dir),
            }
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {
        "experiment_info": {
            "log_root": str(root),
            "seeds": [e["seed"] for e in experiments],
            "num_experiments": len(experiments),
            "duration_seconds": time.time() - started,
        },
        "experiments": experiments,
    }
    with open(output_dir / "training_results.json", "w") as file:
        json.dump(results, file, indent=2)

    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    seeds = [str(e["seed"]) for e in experiments]
    finals = [e["training_metrics"].get("final_reward_mean", 0.0) for e in experiments]
    axes[0, 0].bar(seeds, finals)
    axes[0, 0].set_title("Final Reward by Seed")
    axes[0, 0].set_xlabel("Seed")
    axes[0, 0].set_ylabel("Final Mean Reward")
    for ax, (name, title) in zip(axes.flat[1:], [("reward", "Training Convergence Curves"), *PANELS], strict=True):
        for experiment, seed in zip(experiments, seeds, strict=True):
            metrics = experiment["training_metrics"]
            if f"{name}_progression" in metrics:
                ax.plot(metrics[f"{name}_steps"], metrics[f"{name}_progression"], label=f"seed {seed}", alpha=0.7)
        ax.set_title(title)
        ax.set_xlabel("Iteration")
        if len(experiments) <= 10:
            ax.legend()
    plt.tight_layout()
    plt.savefig(output_dir / "training_analysis.png", dpi=150, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
