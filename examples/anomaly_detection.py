"""Anomaly detection with an RBM's free energy: AUROC against corrupted and unseen-class digits.

An energy ranks examples by likelihood without the partition function: ``-log p(v) =
F(v) + log Z`` and ``log Z`` is shared, so the free energy ``F(v)`` is an anomaly score
(Kuleshov, lecture 11: "applications: anomaly detection"; Zhai et al. 2016). A
Bernoulli RBM is trained by PCD on the training digits of the *normal* classes only
(default 0-4). The normal test set is the held-out digits of those classes; it is
scored against four anomalous sets:

- ``bit flips``: the normal test images with each pixel flipped with probability
  ``--flip`` (default 0.1);
- ``inverted``: the normal test images with every pixel inverted;
- ``unseen classes``: held-out digits of the other classes;
- ``uniform noise``: random images with the training set's overall ink density.

Scores come from ``numpyro_ebm.evaluation.metrics.anomaly_scores`` (the free energy),
AUROC from ``metrics.auroc`` (exact Mann-Whitney statistic) and the ROC curves from
``metrics.roc_curve``. The same table is computed for the independent-pixel model
(the RBM with ``W = 0`` and visible biases at the training base rates), which sees
pixel frequencies but no correlations between pixels.

Data: the embedded 8x8 digits by default; MNIST with ``--mnist PATH`` or
``NUMPYRO_EBM_MNIST``.

Run: ``python examples/anomaly_detection.py --out anomaly_output`` (under a minute).

References
----------
Zhai, S., Cheng, Y., Lu, W. & Zhang, Z. (2016). Deep structured energy based models for
anomaly detection. *ICML*.
Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver
operating characteristic (ROC) curve. *Radiology* 143(1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import load_images, train_rbm  # noqa: E402


def independent_pixel_params(params: bernoulli_rbm.BernoulliRBMParams, train):
    """The RBM with ``W = 0`` and visible biases at the training base rates (logits):
    its free energy is the independent-pixel negative log-likelihood up to a constant."""
    rate = np.clip(np.asarray(train).mean(axis=0), 1e-3, 1 - 1e-3)
    dtype = params.W.dtype
    return bernoulli_rbm.BernoulliRBMParams(
        jnp.zeros_like(params.W),
        jnp.asarray(np.log(rate) - np.log1p(-rate), dtype),
        jnp.zeros_like(params.c),
    )


def anomalous_sets(normal, other_classes, flip: float, density: float, rng):
    """The four anomalous test sets (float32 0/1 rows)."""
    flips = rng.random(normal.shape) < flip
    return {
        "bit flips": np.where(flips, 1.0 - normal, normal).astype(np.float32),
        "inverted": (1.0 - normal).astype(np.float32),
        "unseen classes": other_classes.astype(np.float32),
        "uniform noise": (rng.random(normal.shape) < density).astype(np.float32),
    }


def plot_roc(curves, path, title):
    """``curves``: ``{(model, anomalies): (fpr, tpr, auroc)}``; one colour per anomaly set,
    solid for the RBM, dashed for the independent-pixel model."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(anomalies for _, anomalies in curves))
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for (model, anomalies), (fpr, tpr, area) in curves.items():
        ax.plot(
            fpr,
            tpr,
            "-" if model == "RBM" else "--",
            color=f"C{labels.index(anomalies)}",
            label=f"{model}: {anomalies} ({area:.3f})",
        )
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate (normal flagged)")
    ax.set_ylabel("true positive rate (anomaly flagged)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_examples(sets, image_shape, path):
    """A few images of every set, the normal one first."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    columns = 6
    fig, axes = plt.subplots(len(sets), columns, figsize=(1.1 * columns, 1.2 * len(sets)))
    for r, (label, images) in enumerate(sets.items()):
        for c in range(columns):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(image_shape), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None, help="MNIST .npz or IDX directory")
    parser.add_argument("--digits", action="store_true", help="ignore NUMPYRO_EBM_MNIST")
    parser.add_argument("--normal-classes", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--train-size", type=int, default=None, help="use the first N training images"
    )
    parser.add_argument("--test-size", type=int, default=None, help="use the first N test images")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--pcd-chains", type=int, default=100)
    parser.add_argument("--flip", type=float, default=0.1, help="bit-flip probability")
    parser.add_argument("--out", default="anomaly_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    split, image_shape, data_name = load_images(args.mnist, args.digits, args.seed)
    x_train, y_train = split.x_train[: args.train_size], split.y_train[: args.train_size]
    x_test, y_test = split.x_test[: args.test_size], split.y_test[: args.test_size]
    normal_classes = sorted(set(args.normal_classes))
    train = x_train[np.isin(y_train, normal_classes)]
    normal = x_test[np.isin(y_test, normal_classes)]
    other = x_test[~np.isin(y_test, normal_classes)]
    if len(other) == 0:
        raise ValueError("--normal-classes covers every class: there are no unseen classes")
    params = train_rbm(
        jax.random.key(args.seed),
        train,
        n_hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        n_chains=args.pcd_chains,
    )
    trained = time.perf_counter() - started
    print(
        f"{data_name}: {train.shape[1]}-{args.hidden} RBM, PCD-1, {args.epochs} epochs on "
        f"{len(train)} training images of classes {normal_classes} ({trained:.1f} s)"
    )

    rng = np.random.default_rng(args.seed)
    sets = anomalous_sets(normal, other, args.flip, float(train.mean()), rng)
    baseline = independent_pixel_params(params, train)
    models = {"RBM": params, "independent pixels": baseline}

    def score(p, x):
        x = bernoulli_rbm.validate_visible(p, jnp.asarray(x), "x")
        return np.asarray(metrics.anomaly_scores(bernoulli_rbm.free_energy, p, x, batch_size=1024))

    normal_scores = {name: score(p, normal) for name, p in models.items()}
    table, curves = [], {}
    print(
        f"\nnormal: {len(normal)} held-out digits of classes {normal_classes}; "
        "AUROC (anomalies should have higher free energy)"
    )
    print(f"{'anomalies':>16s} {'n':>6s} {'RBM':>7s} {'indep. pixels':>14s}")
    for label, anomalies in sets.items():
        row = {"anomalies": label, "n": len(anomalies)}
        for name, p in models.items():
            scores = score(p, anomalies)
            area = metrics.auroc(normal_scores[name], scores)
            row[name] = area
            fpr, tpr, _ = metrics.roc_curve(normal_scores[name], scores)
            curves[(name, label)] = (fpr, tpr, area)
        table.append(row)
        print(f"{label:>16s} {row['n']:6d} {row['RBM']:7.4f} {row['independent pixels']:14.4f}")

    rbm_curves = {k: v for k, v in curves.items() if k[0] == "RBM"}
    paths = [
        plot_roc(rbm_curves, out / "roc_rbm.png", f"RBM free energy, normal = {normal_classes}"),
        plot_roc(curves, out / "roc_all.png", "RBM (solid) vs independent pixels (dashed)"),
        plot_examples({"normal": normal, **sets}, image_shape, out / "anomaly_examples.png"),
    ]
    seconds = time.perf_counter() - started
    print(f"\nwrote {', '.join(str(p) for p in paths)} in {seconds:.1f} s")
    return {
        "data": data_name,
        "normal_classes": normal_classes,
        "table": table,
        "plots": [str(p) for p in paths],
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
