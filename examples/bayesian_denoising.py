"""Bayesian Ising denoising: the coupling, the noise rate and the clean image inferred jointly.

``examples/ising_denoising.py`` restores a binarized digit with flipped pixels under an
Ising prior whose coupling ``J`` and noise rate ``q`` are set by hand (Kuleshov, Deep
Generative Models lecture 11; Geman & Geman 1984). Here both are unknown:

    J ~ Uniform(0, 1),  q ~ Uniform(0, 0.5),
    x | J ~ Ising(J)  (clean 0/1 pixels, p(x) = exp(J Σ_<ij> s_i s_j) / Z(J), s = 2x - 1),
    y | x, q: each pixel flipped with probability q.

The prior's normaliser ``Z(J)`` depends on the inferred ``J``: the model is
doubly intractable, and ``MCMC(NUTS(...))``/``DiscreteHMCGibbs`` would silently drop
``Z(J)`` (``potentials.check_model`` says so). ``numpyro_ebm.infer.Exchange`` samples the
right posterior: ``(J, q)`` by random-walk Metropolis with the exchange algorithm's
auxiliary Ising draw at the proposed ``J`` (Murray, Ghahramani & MacKay 2006), the clean
image ``x`` by single-site Gibbs sweeps at fixed ``(J, q)``.

The script reports

- the posterior of ``J`` and ``q`` (ArviZ summary: mean, sd, R-hat, ESS) and the true
  noise rate;
- the pixel error of the posterior-mean image (thresholded at 1/2) against the fixed-coupling
  denoiser of ``examples/ising_denoising.py`` at its hand-set coupling and the true ``q``,
  and against the noisy image;
- a trace plot of ``J`` and ``q`` and the images (when matplotlib is installed).

Measured (defaults with ``--chains 2``: digit 0 upscaled to 16x16, q = 0.1, 28 pixels
flipped; shared, loaded 2-core CPU, 197 s): J = 0.43 ± 0.04, q = 0.06 ± 0.02 (R-hat
1.04 and 1.01); pixel error 0.109 noisy, 0.043 for the fixed-coupling denoiser (which is
given the true q and a hand-set J = 0.5), 0.074 for the Bayesian posterior mean. The
Bayesian denoiser, which must learn q from one image, underestimates the noise and so
trusts the noisy pixels more; it beats the noisy image without any hand-set parameter,
not the denoiser told the answer. With the double-MH draw the posterior is approximate
(see docs/bayesian_inference.md); on raw 8x8 digits (``--upscale 1``, J up to 1) its
inner Gibbs chain freezes at large J and the chain can settle in an all-background mode
(large J, q near the ink fraction), the failure mode of a short inner chain.

Auxiliary draws (``--auxiliary``): ``cftp`` (default; exact coupling from the past, the
coalescence time is reported), ``double_mh`` (approximate, ``--inner-steps`` Gibbs sweeps
from the current image) or ``enumerate`` (only for images of at most 16 pixels).

Run: ``python examples/bayesian_denoising.py --out bayesian_denoising_output``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC

from numpyro_ebm import _arviz, potentials
from numpyro_ebm.energies import lattice_ising
from numpyro_ebm.infer import Exchange
from numpyro_ebm.potentials import UnnormalizedEnergy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import load_images  # noqa: E402
from ising_denoising import (  # noqa: E402  (the fixed-coupling denoiser)
    init_chains,
    ising_energy_bits,
    posterior_mean,
    posterior_params,
)

COUPLING_MAX, NOISE_MAX = 1.0, 0.5


def bayesian_denoising_model(y):
    """Coupling ``J``, noise rate ``q`` and clean pixels ``x`` (0/1) given noisy pixels ``y``."""
    coupling = numpyro.sample("coupling", dist.Uniform(0.0, COUPLING_MAX))
    noise = numpyro.sample("noise", dist.Uniform(0.0, NOISE_MAX))
    ones = lattice_ising.uniform_params(y.shape, dtype=coupling.dtype)
    prior = ones._replace(horizontal=coupling * ones.horizontal, vertical=coupling * ones.vertical)
    x = numpyro.sample("x", UnnormalizedEnergy(ising_energy_bits, prior, y.shape, "binary"))
    x = x.astype(coupling.dtype)  # tracing tools (check_model) give a binary site integers
    p_one = x * (1.0 - noise) + (1.0 - x) * noise  # P(y = 1 | x)
    numpyro.sample("y", dist.Bernoulli(probs=p_one).to_event(2), obs=y)


def fixed_coupling_restoration(key, noisy_spins, coupling, noise, *, chains, burn_in, sweeps):
    """The posterior mean image of ``examples/ising_denoising.py`` (J and q given)."""
    H, W = noisy_spins.shape
    post = posterior_params(
        lattice_ising.uniform_params((H, W), coupling=coupling), noise, noisy_spins[None]
    )
    start = jnp.broadcast_to(noisy_spins, (1, chains, H, W))
    mean_spin, _ = posterior_mean(
        key, init_chains(start, post), post, burn_in=burn_in, sweeps=sweeps
    )
    return (np.asarray(mean_spin[0]) + 1) / 2  # P(x = 1 | y)


def plot_figures(out, idata, images):
    """Trace plot of the coupling and noise rate, and the images; None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure = _arviz.plot("plot_trace", idata, var_names=["coupling", "noise"])
    figure.tight_layout()
    trace_path = out / "coupling_trace.png"
    figure.savefig(trace_path, dpi=80)
    plt.close(figure)
    fig, axes = plt.subplots(1, len(images), figsize=(1.8 * len(images), 2.0))
    for ax, (title, image) in zip(axes, images.items(), strict=True):
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    images_path = out / "bayesian_denoising.png"
    fig.savefig(images_path, dpi=80)
    plt.close(fig)
    return [trace_path, images_path]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=int, default=0, help="index of the held-out digit")
    parser.add_argument("--upscale", type=int, default=2, help="nearest-neighbour upscaling")
    parser.add_argument("--noise", type=float, default=0.1, help="true flip probability")
    parser.add_argument(
        "--auxiliary", default="double_mh", choices=["double_mh", "cftp", "enumerate"]
    )
    parser.add_argument("--inner-steps", type=int, default=20, help="sweeps of double_mh")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument(
        "--fixed-coupling", type=float, default=0.5, help="J of the fixed-coupling denoiser"
    )
    parser.add_argument("--out", default="bayesian_denoising_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    split, image_shape, data_name = load_images(None, True, args.seed)
    clean = np.asarray(split.x_test[args.image], np.float32).reshape(image_shape)
    if args.upscale > 1:
        clean = np.kron(clean, np.ones((args.upscale, args.upscale), np.float32))
    noisy = np.where(rng.random(clean.shape) < args.noise, 1.0 - clean, clean).astype(np.float32)
    y = jnp.asarray(noisy)
    print(f"{data_name} #{args.image}: {clean.shape[0]}x{clean.shape[1]} pixels, "
          f"{int(np.sum(noisy != clean))} flipped (q = {args.noise:g})")  # fmt: skip

    with warnings.catch_warnings():  # the warning is the point; the report is printed
        warnings.simplefilter("ignore", potentials.DoublyIntractableWarning)
        report = potentials.check_model(bayesian_denoising_model, y)
    print(f"check_model: {report} (the Ising prior's log Z depends on the coupling)")

    kernel = Exchange(
        bayesian_denoising_model, auxiliary=args.auxiliary, inner_steps=args.inner_steps
    )
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.samples,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    with jax.numpy_dtype_promotion("standard"):  # NumPyro's MCMC mixes int32 and float32
        start = {"x": jnp.broadcast_to(y, (args.chains, *y.shape))}  # x starts at the data
        mcmc.run(jax.random.key(args.seed), y, init_params=start)
    samples = mcmc.get_samples()
    idata = _arviz.from_numpyro(mcmc, log_likelihood=False)
    summary = _arviz.summary(idata, var_names=["coupling", "noise"])
    print(summary[["mean", "sd", "mcse_mean", "ess_bulk", "r_hat"]].to_string())

    p_clean = np.asarray(jnp.mean(samples["x"], axis=0))  # P(x = 1 | y), J and q integrated out
    bayes_error = float(np.mean((p_clean > 0.5) != clean))
    fixed = fixed_coupling_restoration(
        jax.random.key(args.seed + 1),
        jnp.asarray(2 * noisy - 1),
        args.fixed_coupling,
        args.noise,
        chains=args.chains * 8,
        burn_in=50,
        sweeps=max(args.samples // 4, 50),
    )
    fixed_error = float(np.mean((fixed > 0.5) != clean))
    noisy_error = float(np.mean(noisy != clean))
    extra = mcmc.get_extra_fields()
    accept = float(np.mean(extra["accept_prob"]))
    times = np.asarray(extra["coalescence_time"])
    print(
        f"pixel error: noisy {noisy_error:.4f}, fixed-coupling denoiser (J = "
        f"{args.fixed_coupling:g}, true q) {fixed_error:.4f}, Bayesian posterior mean "
        f"{bayes_error:.4f}\ntheta acceptance {accept:.2f}"
        + (
            f"; CFTP coalescence time: median {np.median(times):.0f}, max {times.max()} sweeps"
            if args.auxiliary == "cftp"
            else ""
        )
    )
    plots = plot_figures(
        out,
        idata,
        {"clean": clean, "noisy": noisy, "fixed J": fixed, "Bayesian": p_clean},
    )
    seconds = time.perf_counter() - started
    print(f"wrote {', '.join(map(str, plots)) or 'no plots (no matplotlib)'} in {seconds:.1f} s")
    coupling = np.asarray(samples["coupling"])
    noise = np.asarray(samples["noise"])
    return {
        "image_shape": clean.shape,
        "check_model": report,
        "coupling_mean": float(coupling.mean()),
        "coupling_sd": float(coupling.std()),
        "noise_mean": float(noise.mean()),
        "noise_sd": float(noise.std()),
        "r_hat": {n: float(summary.loc[n, "r_hat"]) for n in ("coupling", "noise")},
        "noisy_error": noisy_error,
        "fixed_coupling_error": fixed_error,
        "bayesian_error": bayes_error,
        "accept_prob": accept,
        "coalescence_time_max": int(times.max()),
        "plots": [str(p) for p in plots],
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
