"""Imputing missing pixels with a Bernoulli RBM: clamp what is observed, Gibbs-sample the rest.

A Bernoulli RBM is trained with persistent contrastive divergence on the training
images (``numpyro_ebm.learning.fit`` with the closed-form PCD rule). Then, on held-out
images, 10%, 30% and 50% of the pixels (by default) are removed at random, each image
with its own mask, and the RBM's conditional ``p(v_missing | v_observed)`` is sampled
with the library's clamped block-Gibbs kernel (``numpyro_ebm.kernels.clamped_gibbs``):
the missing pixels start as random bits (Hinton's "fill in the missing inputs
randomly") and are redrawn given the hidden units, which are redrawn given all the
pixels, while the observed pixels stay clamped. This is exactly Gibbs sampling of the
RBM conditioned on the observed pixels (what ``numpyro.handlers.condition`` on them
would define), for all images and masks in one compiled sweep.

The imputation is the Rao-Blackwellised estimate of ``P(v_i = 1 | v_observed)``: the
kernel's ``E[v_i | h]`` averaged over chains and sweeps after burn-in. On the removed
pixels the script reports

- the mean absolute error ``|P - v|`` (the expected bit error of imputing by a draw
  from the estimate), and
- the bit error of the thresholded imputation ``P > 1/2``,

next to the baseline that ignores the observed pixels: each pixel's mean over the
training set.

Data: the embedded 8x8 digits by default; MNIST with ``--mnist PATH`` or
``NUMPYRO_EBM_MNIST``.

Run: ``python examples/missing_inputs.py --out missing_inputs_output`` (under a minute).

References
----------
Hinton, G. E. CSC2535 lecture 3b, "Dealing with missing inputs" (course notes).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to
the likelihood gradient. *ICML*.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_ebm.kernels import clamped_gibbs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import load_images, train_rbm  # noqa: E402

_GIBBS = clamped_gibbs.as_top_level_api("bernoulli")


@partial(jax.jit, static_argnames=("burn_in", "sweeps"))
def conditional_probabilities(rng_key, state, params, *, burn_in: int, sweeps: int):
    """Rao-Blackwellised ``P(v_i = 1 | v_observed)``: ``E[v | h, v_o]`` averaged over the
    ``sweeps`` sweeps after ``burn_in`` and over the leading chain axis of ``state``."""
    key_burn, key_sample = jax.random.split(rng_key)
    state = jax.lax.scan(
        lambda s, k: (_GIBBS.step(k, s, params)[0], None),
        state,
        jax.random.split(key_burn, burn_in),
    )[0]

    def body(carry, k):
        state, total = carry
        state, info = _GIBBS.step(k, state, params)
        return (state, total + info.visible_mean), None

    (state, total), _ = jax.lax.scan(
        body, (state, jnp.zeros_like(state.visible)), jax.random.split(key_sample, sweeps)
    )
    return jnp.mean(total, axis=0) / sweeps


def impute(rng_key, params, images, missing, *, chains: int, burn_in: int, sweeps: int):
    """``P(v_i = 1 | observed pixels)`` for every pixel of every image (observed ones: 0/1).

    ``missing`` is a boolean array like ``images``; the missing pixels start as random bits.
    """
    key_fill, key_run = jax.random.split(rng_key)
    images = jnp.asarray(images)
    fill = jax.random.bernoulli(key_fill, 0.5, (chains, *images.shape)).astype(images.dtype)
    observed = jnp.broadcast_to(~jnp.asarray(missing), fill.shape)
    start = jnp.where(observed, images, fill)  # (chains, n, D), one mask per image
    state = _GIBBS.init(start, params, observed)
    return conditional_probabilities(key_run, state, params, burn_in=burn_in, sweeps=sweeps)


def plot_imputations(rows, image_shape, path):
    """``rows``: list of (label, [original, masked, imputed, baseline]) flattened images."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    titles = ["original", "observed (grey: missing)", "RBM P(v=1 | observed)", "pixel mean"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(6.4, 1.6 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(
                np.asarray(image).reshape(image_shape),
                cmap="gray_r",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_errors(table, path):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fractions = [100 * row["fraction"] for row in table]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, metric, title in (
        (axes[0], "mae", "mean |P - v| on removed pixels"),
        (axes[1], "bit_error", "bit error of P > 1/2 on removed pixels"),
    ):
        ax.plot(fractions, [row[f"rbm_{metric}"] for row in table], marker="o", label="RBM")
        ax.plot(
            fractions, [row[f"baseline_{metric}"] for row in table], marker="s", label="pixel mean"
        )
        ax.set_xlabel("% pixels removed")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None, help="MNIST .npz or IDX directory")
    parser.add_argument("--digits", action="store_true", help="ignore NUMPYRO_EBM_MNIST")
    parser.add_argument(
        "--train-size", type=int, default=None, help="use the first N training images"
    )
    parser.add_argument("--test-size", type=int, default=None, help="use the first N test images")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--pcd-chains", type=int, default=100)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--chains", type=int, default=10, help="Gibbs chains per image")
    parser.add_argument("--burn-in", type=int, default=50)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--out", default="missing_inputs_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    split, image_shape, data_name = load_images(args.mnist, args.digits, args.seed)
    train = split.x_train[: args.train_size]
    test = split.x_test[: args.test_size]
    key_train, key_impute = jax.random.split(jax.random.key(args.seed))
    params = train_rbm(
        key_train,
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
        f"{len(train)} images ({trained:.1f} s); imputing {len(test)} held-out images"
    )

    pixel_mean = np.clip(train.mean(axis=0), 0.0, 1.0)
    rng = np.random.default_rng(args.seed)
    table, figure_rows = [], []
    print(
        f"\n{'removed':>8s} {'MAE rbm':>8s} {'baseline':>9s} {'bit err rbm':>12s} {'baseline':>9s}"
    )
    for fraction in args.fractions:
        missing = rng.random(test.shape) < fraction
        key_impute, key = jax.random.split(key_impute)
        probs = np.asarray(
            impute(
                key,
                params,
                test,
                missing,
                chains=args.chains,
                burn_in=args.burn_in,
                sweeps=args.sweeps,
            )
        )
        truth = test[missing]
        rbm_p = probs[missing]
        base_p = np.broadcast_to(pixel_mean, test.shape)[missing]
        row = {
            "fraction": fraction,
            "n_removed": int(missing.sum()),
            "rbm_mae": float(np.mean(np.abs(rbm_p - truth))),
            "baseline_mae": float(np.mean(np.abs(base_p - truth))),
            "rbm_bit_error": float(np.mean((rbm_p > 0.5) != (truth > 0.5))),
            "baseline_bit_error": float(np.mean((base_p > 0.5) != (truth > 0.5))),
        }
        # the observed pixels must come back exactly as they were
        if not np.array_equal(probs[~missing], test[~missing]):
            raise RuntimeError("an observed pixel changed: the clamp is broken")
        table.append(row)
        print(
            f"{100 * fraction:7.0f}% {row['rbm_mae']:8.4f} {row['baseline_mae']:9.4f} "
            f"{row['rbm_bit_error']:12.4f} {row['baseline_bit_error']:9.4f}"
        )
        for i in range(3):
            masked = np.where(missing[i], 0.5, test[i])
            baseline = np.where(missing[i], pixel_mean, test[i])
            figure_rows.append(
                (f"{100 * fraction:.0f}% #{i}", [test[i], masked, probs[i], baseline])
            )

    paths = [
        plot_imputations(figure_rows, image_shape, out / "imputations.png"),
        plot_errors(table, out / "imputation_errors.png"),
    ]
    seconds = time.perf_counter() - started
    print(f"\nwrote {', '.join(str(p) for p in paths)} in {seconds:.1f} s")
    return {
        "data": data_name,
        "table": table,
        "train_seconds": trained,
        "plots": [str(p) for p in paths],
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
