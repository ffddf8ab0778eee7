"""Learning curves and chain diagnostics of committed training runs, side by side.

Reads the per-epoch ``history`` that ``bench/mnist_rbm500.py`` (and the other MNIST
scripts) store in their JSON, and plots, against the fraction of training done (the
runs' learning rates decay linearly to zero over different numbers of epochs): the
persistent chains' energy R-hat within an epoch, the free-energy gap between held-out
and training images (overfitting), and for tempered runs the mean swap acceptance. Prints the figures at 25/50/75/100% of
training. Example (the two 784-500 runs of BENCHMARKS.md)::

    python -m bench.training_curves bench/results/mnist_rbm_784_500.json \\
        bench/results/mnist_rbm_784_500_pt.json --out bench/results/mnist_rbm_784_500_curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench._common import pyplot

PANELS = (
    ("chain_rhat", "chains' energy R-hat"),
    ("free_energy_gap", "free-energy gap, held-out − train (nats)"),
    ("swap_rate", "PT swap acceptance (adjacent pairs)"),
)


def load_history(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """The run's label (its file stem) and its history as float arrays."""
    record = json.loads(Path(path).read_text())
    if "history" not in record or "epoch" not in record["history"]:
        raise ValueError(f"{path} has no per-epoch 'history' (written by bench/mnist_rbm500.py)")
    history = {k: np.asarray(v, dtype=float) for k, v in record["history"].items()}
    return Path(path).stem, history


def milestones(history: dict[str, np.ndarray], fractions=(0.25, 0.5, 0.75, 1.0)) -> dict:
    """Each panel's value at the given fractions of training (mean of the nearest 5 epochs)."""
    n = len(history["epoch"])
    table = {}
    for key, _ in PANELS:
        if key not in history:
            continue
        values = history[key]
        table[key] = [
            float(np.nanmean(values[max(0, round(f * n) - 5) : max(1, round(f * n))]))
            for f in fractions
        ]
    return table


def plot(runs: list[tuple[str, dict[str, np.ndarray]]], out: Path) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.8), sharex=True)
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        for index, (label, history) in enumerate(runs):
            if key in history:  # a run keeps its colour in every panel
                progress = history["epoch"] / history["epoch"][-1]
                label = f"{label} ({len(progress)} epochs)"
                ax.plot(progress, history[key], color=f"C{index}", label=label, lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("fraction of training")
        ax.grid(alpha=0.3)
    axes[0].axhline(1.1, color="grey", ls=":", lw=1)  # fit's MixingWarning threshold
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="result JSON files")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write")
    args = parser.parse_args(argv)
    runs = [load_history(path) for path in args.runs]
    summary = {label: milestones(history) for label, history in runs}
    for label, table in summary.items():
        print(label)
        for key, values in table.items():
            print(f"  {key:16s}" + "".join(f"{v:10.3f}" for v in values) + "   (25/50/75/100%)")
    if args.out is not None:
        plot(runs, args.out)
        print(f"wrote {args.out}")
    return summary


if __name__ == "__main__":
    main()
