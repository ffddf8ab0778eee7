"""Binary image denoising with a lattice Ising prior: exact posterior, checkerboard Gibbs, NumPyro cross-check.

The clean image is a field of spins ``s`` in {-1, +1}^(H x W) with an Ising prior
``p(s) ∝ exp(J Σ_<ij> s_i s_j + h Σ_i s_i)`` (neighbouring pixels tend to agree); the
observation ``y`` flips each pixel independently with probability ``q``:
``p(y_i | s_i) = 1 - q`` if ``y_i = s_i`` and ``q`` otherwise (Kuleshov, Deep Generative
Models lecture 11, "Example: Ising model"; Geman & Geman 1984). The model is written in
NumPyro (``denoising_model``: the prior as a binary ``UnnormalizedEnergy`` site, the
noise as a Bernoulli likelihood).

The posterior is again an Ising model, exactly. Since
``log p(y_i | s_i) = β s_i y_i + const`` with ``β = ½ log((1 - q) / q)``,

    p(s | y) ∝ exp(J Σ_<ij> s_i s_j + Σ_i (h + β y_i) s_i),

the prior with its field shifted by ``β y`` (``posterior_params``). The script checks
this identity numerically against NumPyro's log joint, then samples the posterior of
every image with the library's checkerboard Gibbs kernel (many chains, batched over
images) and reports the pixel error of

- the noisy image ``y`` (about ``q``),
- the posterior-marginal mode ("MPM", the sign of the posterior mean: the Bayes
  restoration for pixel error), and the error the posterior itself predicts for it,
- the MAP image, approximated by simulated annealing of the same kernel
  (parameters scaled by an increasing inverse temperature, Geman & Geman 1984).

The prior is set by hand: ``--field h`` (default 0) and ``--coupling J``, by default 0.8
for upscaled images (the digits: strokes 4+ pixels wide) and 0.5 otherwise (MNIST:
strokes 2-3 pixels wide; with J = 0.8, above the zero-field critical coupling 0.44, the
posterior at 20% noise orders into all-background and thin strokes vanish). Fitting
``J`` to clean images by maximum pseudo-likelihood is no good here: in upscaled images
neighbours almost never disagree, the fit runs off to ``J ≈ 12`` and the posterior
freezes; on raw 8x8 digits it gives ``J ≈ 0.5``, too weak to help. Real images are not
samples of a homogeneous Ising model; the prior is only a smoothness penalty, and the
error the posterior predicts for itself is only as good as that prior.

Cross-check: on a small crop the posterior marginals from the checkerboard kernel and
from NumPyro's ``DiscreteGibbs`` (the discrete-site block of ``DiscreteHMCGibbs``; this
model has no continuous site for the HMC half) are compared with exact enumeration.

Data: the embedded 8x8 digits by default, upscaled by ``--upscale`` (default 4,
nearest neighbour) so that strokes are several pixels wide, the regime a
nearest-neighbour smoothness prior is made for (on raw 8x8 digits a stroke is often a
single pixel); MNIST (28x28, no upscaling by default) with ``--mnist PATH`` or
``NUMPYRO_EBM_MNIST``.

Run: ``python examples/ising_denoising.py --out denoising_output`` (about 30 s of CPU).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import substitute
from numpyro.infer import MCMC, DiscreteGibbs
from numpyro.infer.util import log_density

from numpyro_ebm import potentials
from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.evaluation import exact
from numpyro_ebm.kernels import checkerboard_gibbs
from numpyro_ebm.potentials import UnnormalizedEnergy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import load_images  # noqa: E402

# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def to_spins(images, image_shape, upscale: int) -> np.ndarray:
    """0/1 rows -> spins of shape ``(n, H * upscale, W * upscale)`` (nearest neighbour)."""
    x = np.asarray(images, np.float32).reshape((-1, *image_shape))
    if upscale > 1:
        x = np.kron(x, np.ones((1, upscale, upscale), np.float32))
    return 2.0 * x - 1.0


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------


def ising_energy_bits(params: lattice_ising.LatticeIsingParams, x):
    """The Ising energy of 0/1 pixels ``x`` (spins ``2x - 1``), for a binary NumPyro site."""
    return lattice_ising.energy(params, 2 * x - 1)


def denoising_model(prior: lattice_ising.LatticeIsingParams, noise: float, y=None):
    """Clean pixels ``x`` (0/1), Ising prior; ``y`` flips each pixel with probability ``noise``.

    The prior parameters are fixed (not inferred), so dropping the Ising ``log Z`` is exact.
    """
    shape = prior.shape
    x = numpyro.sample("x", UnnormalizedEnergy(ising_energy_bits, prior, shape, support="binary"))
    x = x.astype(prior.field.dtype)
    p_one = x * (1.0 - noise) + (1.0 - x) * noise  # P(y = 1 | x)
    numpyro.sample("y", dist.Bernoulli(probs=p_one).to_event(2), obs=y)


def noise_strength(noise: float) -> float:
    """``β = ½ log((1 - q) / q)``: the field a pixel's observation adds to the posterior."""
    return 0.5 * math.log((1.0 - noise) / noise)


def posterior_params(prior: lattice_ising.LatticeIsingParams, noise: float, y_spins):
    """The exact posterior ``p(s | y)``: the prior with field ``h + β y`` (``y`` in spins).

    ``y_spins`` may carry leading image dimensions; the field then does too.
    """
    field = prior.field + noise_strength(noise) * y_spins
    return lattice_ising.LatticeIsingParams(prior.horizontal, prior.vertical, field)


# --------------------------------------------------------------------------------------
# Posterior sampling with the checkerboard kernel, batched over images
# --------------------------------------------------------------------------------------

_GIBBS = checkerboard_gibbs.as_top_level_api(spins=True)
# one image per leading index: the field differs between images, the couplings are shared
_PARAMS_AXES = lattice_ising.LatticeIsingParams(None, None, 0)
_step_images = jax.vmap(_GIBBS.step, in_axes=(0, 0, _PARAMS_AXES))


def _sweep(key, state, params):
    keys = jax.random.split(key, state.position.shape[0])
    return _step_images(keys, state, params)[0]


def init_chains(start, params):
    """States of shape ``(images, chains, H, W)`` (validated once, then vmapped)."""
    lattice_ising.validate_state(params._replace(field=params.field[0]), start)
    return jax.vmap(_GIBBS.init, in_axes=(0, _PARAMS_AXES))(start, params)


@partial(jax.jit, static_argnames=("burn_in", "sweeps"))
def posterior_mean(key, state, params, *, burn_in: int, sweeps: int):
    """Mean spin of every pixel over ``sweeps`` sweeps after ``burn_in``, averaged over chains."""
    key_burn, key_sample = jax.random.split(key)
    state = jax.lax.scan(
        lambda s, k: (_sweep(k, s, params), None), state, jax.random.split(key_burn, burn_in)
    )[0]

    def body(carry, k):
        state, total = carry
        state = _sweep(k, state, params)
        return (state, total + state.position), None

    total = jnp.zeros_like(state.position)
    (state, total), _ = jax.lax.scan(body, (state, total), jax.random.split(key_sample, sweeps))
    return jnp.mean(total, axis=1) / sweeps, state


@jax.jit
def anneal(key, state, params, inverse_temperatures):
    """Simulated annealing: sweeps at ``p(s | y)^b`` for the increasing ``b`` given."""

    def body(state, inputs):
        k, b = inputs
        scaled = jax.tree.map(lambda a: b * a, params)
        return _sweep(k, state, scaled), None

    keys = jax.random.split(key, inverse_temperatures.shape[0])
    return jax.lax.scan(body, state, (keys, inverse_temperatures))[0]


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def check_posterior_identity(prior, noise, y_bits, n_states: int, seed: int) -> float:
    """Max deviation from a constant of ``log p(x, y) + E_post(x)`` over random ``x``.

    ``log p(x, y)`` is NumPyro's log joint of :func:`denoising_model`, evaluated in float64;
    a deviation at rounding level means the posterior is exactly the Ising model of
    :func:`posterior_params`.
    """
    rng = np.random.default_rng(seed)
    states = rng.random((n_states, *prior.shape)) < 0.5
    with jax.enable_x64(True):
        prior64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), prior)
        y64 = jnp.asarray(y_bits, jnp.float64)
        post = posterior_params(prior64, noise, 2.0 * y64 - 1.0)

        @jax.jit
        def difference(x):
            log_joint, _ = log_density(denoising_model, (prior64, noise, y64), {}, {"x": x})
            return log_joint + lattice_ising.energy(post, 2 * x - 1)

        diffs = np.asarray([float(difference(jnp.asarray(x, jnp.float64))) for x in states])
    return float(np.max(np.abs(diffs - diffs.mean())))


def exact_marginals(post) -> np.ndarray:
    """``P(s_i = +1 | y)`` by enumerating every configuration of a small lattice."""
    H, W = post.shape

    def flat_energy(p, s):
        return lattice_ising.energy(p, s.reshape(s.shape[:-1] + (H, W)))

    states, log_p = exact.log_probabilities_binary(flat_energy, post, H * W, spins=True)
    return (np.exp(log_p) @ (states > 0)).reshape(H, W)


def numpyro_marginals(prior, noise, y_bits, *, samples: int, warmup: int, chains: int, seed: int):
    """``P(x_i = 1 | y)`` from NumPyro's ``DiscreteGibbs`` on :func:`denoising_model`."""
    start = jnp.asarray(y_bits, jnp.int32)  # the discrete site's first value (no .sample())
    kernel = DiscreteGibbs(substitute(denoising_model, data={"x": start}))
    # NumPyro's MCMC internals rely on standard dtype promotion (int/float mixes)
    with jax.numpy_dtype_promotion("standard"):
        mcmc = MCMC(
            kernel,
            num_warmup=warmup,
            num_samples=samples,
            num_chains=chains,
            chain_method="sequential",
            progress_bar=False,
        )
        mcmc.run(jax.random.key(seed), prior, noise, y_bits)
        x = mcmc.get_samples(group_by_chain=True)["x"].astype(jnp.float32)  # (chains, n, H, W)
        ess = numpyro.diagnostics.effective_sample_size(np.asarray(x))
    return np.asarray(jnp.mean(x, axis=(0, 1))), np.asarray(ess)


def most_mixed_window(spins, size: int):
    """Top-left corner of the ``size x size`` window with the most disagreeing neighbours."""
    H, W = spins.shape
    best, corner = -1.0, (0, 0)
    for i in range(H - size + 1):
        for j in range(W - size + 1):
            w = spins[i : i + size, j : j + size]
            edges = np.sum(w[:, 1:] != w[:, :-1]) + np.sum(w[1:] != w[:-1])
            if edges > best:
                best, corner = edges, (i, j)
    return corner


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def plot_restorations(rows, path, titles):
    """``rows``: list of (label, [images in [0, 1]]) with one column per title."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols, 1.6 * n_rows), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
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

    noise = [row["noise"] for row in table]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (
        ("noisy_error", "noisy image"),
        ("mpm_error", "posterior marginal mode"),
        ("map_error", "MAP (annealed)"),
        ("predicted_mpm_error", "MPM error predicted by the posterior"),
    ):
        ax.plot(noise, [row[key] for row in table], marker="o", label=label)
    ax.set_xlabel("flip probability q")
    ax.set_ylabel("pixel error rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None, help="MNIST .npz or IDX directory")
    parser.add_argument("--digits", action="store_true", help="ignore NUMPYRO_EBM_MNIST")
    parser.add_argument("--images", type=int, default=8, help="held-out images to denoise")
    parser.add_argument(
        "--upscale", type=int, default=None, help="nearest-neighbour upscaling (4 digits, 1 MNIST)"
    )
    parser.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument(
        "--coupling",
        type=float,
        default=None,
        help="prior coupling J (default 0.8 if upscaled, else 0.5)",
    )
    parser.add_argument("--field", type=float, default=0.0, help="prior field h")
    parser.add_argument("--chains", type=int, default=8, help="chains per image")
    parser.add_argument("--burn-in", type=int, default=50)
    parser.add_argument("--sweeps", type=int, default=150)
    parser.add_argument("--anneal-sweeps", type=int, default=200)
    parser.add_argument("--check-size", type=int, default=4, help="side of the exact-check crop")
    parser.add_argument("--check-chains", type=int, default=4000)
    parser.add_argument("--numpyro-samples", type=int, default=2000)
    parser.add_argument("--numpyro-chains", type=int, default=2)
    parser.add_argument("--out", default="ising_denoising_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)

    split, image_shape, data_name = load_images(args.mnist, args.digits, args.seed)
    upscale = args.upscale or (4 if image_shape == (8, 8) else 1)
    clean = to_spins(split.x_test[: args.images], image_shape, upscale)  # (n, H, W)
    n, H, W = clean.shape
    print(f"{data_name}: {n} held-out images of {H}x{W} (upscaled x{upscale})")

    coupling, field = args.coupling, args.field
    if coupling is None:
        coupling = 0.8 if upscale > 1 else 0.5
    prior = lattice_ising.uniform_params((H, W), coupling=coupling, field=field)
    print(f"Ising prior: J = {coupling:g}, h = {field:g}")

    # the identity p(s | y) = Ising(J, h + β y), checked against NumPyro's log joint
    y0 = np.where(rng.random(clean[0].shape) < args.noise[0], -clean[0], clean[0])
    y0_bits = jnp.asarray((y0 + 1) / 2, jnp.float32)
    deviation = check_posterior_identity(prior, args.noise[0], y0_bits, 8, args.seed)
    report = potentials.check_model(denoising_model, prior, args.noise[0], y0_bits)
    print(
        f"log p(x, y) [NumPyro] + E_post(x): max deviation from a constant over 8 random x = "
        f"{deviation:.2e} (the posterior is exactly an Ising model with field h + β y); "
        f"check_model: {report or 'no inferred energy parameters'}"
    )

    table, figure_rows = [], []
    show = min(n, 4)
    print(f"\n{'q':>5s} {'noisy':>7s} {'MPM':>7s} {'(predicted)':>11s} {'MAP':>7s}")
    for q in args.noise:
        flips = rng.random(clean.shape) < q
        noisy = np.where(flips, -clean, clean).astype(np.float32)
        post = posterior_params(prior, q, jnp.asarray(noisy))
        start = jnp.broadcast_to(jnp.asarray(noisy)[:, None], (n, args.chains, H, W))
        state = init_chains(start, post)
        key, key_post, key_anneal = jax.random.split(key, 3)
        mean_spin, state = posterior_mean(
            key_post, state, post, burn_in=args.burn_in, sweeps=args.sweeps
        )
        mean_spin = np.asarray(mean_spin)
        p_one = (1.0 + mean_spin) / 2.0  # posterior marginal P(s_i = +1 | y)
        mpm = np.where(mean_spin >= 0, 1.0, -1.0)
        # annealing from the posterior (b = 1) to b = 20, one chain per image
        betas = jnp.geomspace(1.0, 20.0, args.anneal_sweeps).astype(jnp.float32)
        one_chain = jax.tree.map(lambda a: a[:, :1], state)
        map_state = np.asarray(anneal(key_anneal, one_chain, post, betas).position[:, 0])
        row = {
            "noise": q,
            "noisy_error": float(np.mean(noisy != clean)),
            "mpm_error": float(np.mean(mpm != clean)),
            "predicted_mpm_error": float(np.mean(np.minimum(p_one, 1.0 - p_one))),
            "map_error": float(np.mean(map_state != clean)),
        }
        table.append(row)
        print(
            f"{q:5.2f} {row['noisy_error']:7.4f} {row['mpm_error']:7.4f} "
            f"{row['predicted_mpm_error']:11.4f} {row['map_error']:7.4f}"
        )
        for i in range(show):
            figure_rows.append(
                (
                    f"q={q:g} #{i}",
                    [
                        (clean[i] + 1) / 2,
                        (noisy[i] + 1) / 2,
                        p_one[i],
                        (mpm[i] + 1) / 2,
                        (map_state[i] + 1) / 2,
                    ],
                )
            )

    # cross-check on a crop small enough to enumerate (2^(size^2) states)
    size = args.check_size
    q = args.noise[len(args.noise) // 2]
    i0, j0 = most_mixed_window(clean[0], size)
    crop_prior = lattice_ising.uniform_params((size, size), coupling=coupling, field=field)
    crop_clean = clean[0, i0 : i0 + size, j0 : j0 + size]
    crop_noisy = np.where(rng.random(crop_clean.shape) < q, -crop_clean, crop_clean)
    crop_post = posterior_params(crop_prior, q, jnp.asarray(crop_noisy, jnp.float32))
    p_exact = exact_marginals(crop_post)
    crop_start = jnp.broadcast_to(
        jnp.asarray(crop_noisy, jnp.float32), (1, args.check_chains, size, size)
    )
    crop_params = crop_post._replace(field=crop_post.field[None])
    key, key_check = jax.random.split(key)
    final = posterior_mean(
        key_check, init_chains(crop_start, crop_params), crop_params, burn_in=100, sweeps=1
    )[1]
    p_gibbs = np.asarray(jnp.mean(final.position[0] > 0, axis=0))  # one final state per chain
    gibbs_se = np.sqrt(np.maximum(p_exact * (1 - p_exact), 1e-12) / args.check_chains)
    crop_bits = jnp.asarray((crop_noisy + 1) / 2, jnp.float32)
    p_numpyro, ess = numpyro_marginals(
        crop_prior,
        q,
        crop_bits,
        samples=args.numpyro_samples,
        warmup=args.numpyro_samples // 4,
        chains=args.numpyro_chains,
        seed=args.seed + 1,
    )
    numpyro_se = np.sqrt(np.maximum(p_exact * (1 - p_exact), 1e-12) / np.maximum(ess, 1.0))
    gibbs_z = float(np.max(np.abs(p_gibbs - p_exact) / gibbs_se))
    numpyro_z = float(np.max(np.abs(p_numpyro - p_exact) / numpyro_se))
    print(
        f"\n{size}x{size} crop at q = {q:g}: posterior marginals vs exact enumeration\n"
        f"  checkerboard Gibbs ({args.check_chains} independent chains): "
        f"max |diff| = {np.max(np.abs(p_gibbs - p_exact)):.4f} (max |z| = {gibbs_z:.2f})\n"
        f"  NumPyro DiscreteGibbs ({args.numpyro_chains} chain(s) x {args.numpyro_samples} "
        f"draws, min ESS "
        f"{float(np.min(ess)):.0f}): max |diff| = {np.max(np.abs(p_numpyro - p_exact)):.4f} "
        f"(max |z| = {numpyro_z:.2f})"
    )

    paths = [
        plot_restorations(
            figure_rows,
            out / "denoising.png",
            ["clean", "noisy", "P(black | y)", "MPM", "MAP (annealed)"],
        ),
        plot_errors(table, out / "denoising_errors.png"),
    ]
    seconds = time.perf_counter() - started
    print(f"\nwrote {', '.join(str(p) for p in paths)} in {seconds:.1f} s")
    return {
        "data": data_name,
        "image_shape": (H, W),
        "coupling": coupling,
        "field": field,
        "identity_deviation": deviation,
        "table": table,
        "crop_exact": p_exact.tolist(),
        "crop_gibbs": p_gibbs.tolist(),
        "crop_numpyro": p_numpyro.tolist(),
        "crop_gibbs_max_abs_diff": float(np.max(np.abs(p_gibbs - p_exact))),
        "crop_numpyro_max_abs_diff": float(np.max(np.abs(p_numpyro - p_exact))),
        "crop_gibbs_max_z": gibbs_z,
        "crop_numpyro_max_z": numpyro_z,
        "crop_numpyro_min_ess": float(np.min(ess)),
        "plots": [str(p) for p in paths],
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
