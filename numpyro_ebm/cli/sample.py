"""``numpyro-ebm sample``: draw samples from a checkpointed model and save them as .npz and PNG.

Chains start from noise and run ``--sweeps`` steps of the chosen kernel: block
Gibbs (every model), single-site Gibbs on the free energy (Bernoulli RBM), or
HMC / MALA on the free energy (Gaussian-Bernoulli RBM, with ``--step-size``).

With ``--clamp FILE`` the visible units given in the file are held fixed and the
rest are sampled from the model's conditional, by block Gibbs with the observed
units clamped (:mod:`numpyro_ebm.kernels.clamped_gibbs`, as in
``examples/missing_inputs.py``): one row a partial input, NaN marking the
missing units. The output then also holds ``mean``, the Rao-Blackwellised
estimate of ``E[v | observed]`` (for binary units, ``P(v_i = 1 | observed)``),
averaged over the chains and the second half of the sweeps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from numpyro_ebm.cli._common import (
    CommandError,
    check_finite_positive,
    check_input_file,
    check_positive,
    image_shape,
    load_array,
    write_json,
)

__all__ = ["add_parser", "validate", "run", "KERNELS"]

KERNELS = {
    "gibbs": ("bernoulli-rbm", "gaussian-rbm", "dbm"),
    "single-site": ("bernoulli-rbm",),
    "hmc": ("gaussian-rbm",),
    "mala": ("gaussian-rbm",),
}
"""Each kernel and the models it samples."""

EXAMPLES = """examples:
  numpyro-ebm sample run1/checkpoint --n-samples 64 --sweeps 1000 --output samples1
  numpyro-ebm sample gb/checkpoint --kernel hmc --step-size 0.05 --output gb_samples
  numpyro-ebm sample run1/checkpoint --clamp partial.npy --chains-per-row 20 --output filled

The clamp file has one row a partial input with NaN at the missing units, e.g.
  python -c "import numpy as np; x = np.load('test.npy')[:8]; x[:, 32:] = np.nan; np.save('partial.npy', x)"
"""


def add_parser(subparsers, parents) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sample",
        parents=parents,
        help="draw samples from a checkpoint (optionally with visible units clamped)",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="checkpoint directory or .npz file (from train or demo)")
    p.add_argument("--output", default="samples_output", help="directory for samples.npz and PNG")
    p.add_argument(
        "--kernel",
        choices=tuple(KERNELS),
        default="gibbs",
        help="gibbs (every model), single-site (bernoulli-rbm), hmc or mala (gaussian-rbm)",
    )
    p.add_argument("--n-samples", type=int, default=64, help="chains (one sample each)")
    p.add_argument("--sweeps", type=int, default=1000, help="kernel steps per chain")
    p.add_argument("--step-size", type=float, help="step size of hmc and mala")
    p.add_argument("--clamp", help="partial inputs (.npz/.npy/.csv), NaN at the missing units")
    p.add_argument("--clamp-key", help="the array of a .npz clamp file")
    p.add_argument("--chains-per-row", type=int, default=10, help="chains per clamped row")
    p.add_argument("--image-shape", help="HxW for the PNG grid (default: square if possible)")
    p.add_argument("--seed", type=int, default=0, help="every random choice derives from it")
    p.add_argument(
        "--save-means",
        action="store_true",
        help="gibbs: also save 'means', E[v | h] of each chain's last sweep (for binary units "
        "the probabilities P(v = 1 | h), smoother than the 0/1 states)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace the samples of an earlier run in --output"
    )
    p.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def validate(args, parser) -> None:
    if not Path(args.checkpoint).exists():
        parser.error(f"no such checkpoint: {args.checkpoint}")
    check_positive(parser, args.n_samples, "--n-samples")
    check_positive(parser, args.sweeps, "--sweeps")
    check_positive(parser, args.chains_per_row, "--chains-per-row")
    check_positive(parser, args.seed, "--seed", allow_zero=True)
    check_finite_positive(parser, args.step_size, "--step-size")
    check_input_file(parser, args.clamp, "--clamp")
    if args.kernel in ("hmc", "mala") and args.step_size is None:
        parser.error(f"--kernel {args.kernel} needs --step-size (it depends on the model's scale)")
    if args.clamp is not None and args.kernel != "gibbs":
        parser.error("--clamp samples by clamped block Gibbs: use --kernel gibbs")
    if args.save_means and args.kernel != "gibbs":
        parser.error(f"--save-means needs --kernel gibbs (--kernel {args.kernel} has no E[v | h])")
    existing = Path(args.output) / "samples.npz"
    if existing.exists() and not args.overwrite:
        parser.error(f"{existing} exists; pass --overwrite to replace it, or another --output")


def _initial_visible(model, params, key, shape):
    import jax
    import jax.numpy as jnp

    if model == "gaussian-rbm":
        from numpyro_ebm.energies import gaussian_rbm

        noise = jax.random.normal(key, shape, params.W.dtype)
        return params.b + gaussian_rbm.visible_std(params) * noise
    return jax.random.bernoulli(key, 0.5, shape).astype(jnp.float32)


def _algorithm(model: str, kernel: str, step_size):
    """``(SamplingAlgorithm, batched)``: batched kernels take the chain axis themselves."""
    from numpyro_ebm import registry
    from numpyro_ebm.kernels import binary_gibbs, hmc, mala

    spec = registry.get(model)
    if kernel == "gibbs":  # the model's own block Gibbs
        return spec.default_kernel(), True
    if kernel == "single-site":
        return binary_gibbs.as_top_level_api(spec.free_energy), True
    if kernel == "hmc":
        return hmc.as_top_level_api(spec.free_energy, step_size, refresh=False), False
    return mala.as_top_level_api(spec.free_energy, step_size, refresh=False), False


PROGRESS_CHUNKS = 50
"""With a progress bar, the sweeps run in this many compiled chunks (the bar ticks per chunk)."""


def draw(model, params, kernel, key, n_samples, sweeps, step_size=None, progress=False):
    """``(visible, means)`` of ``n_samples`` chains after ``sweeps`` steps, each ``(n, D)``.

    ``means`` is :math:`E[v \\mid h]` of the last sweep for the block-Gibbs kernels (their
    info's ``visible_mean``), None for the others.
    """
    import jax

    from numpyro_ebm.kernels import runner

    algorithm, batched = _algorithm(model, kernel, step_size)
    key_init, key_run = jax.random.split(key)
    n_visible = params.W1.shape[0] if model == "dbm" else params.W.shape[0]
    start = _initial_visible(model, params, key_init, (n_samples, n_visible))

    def visible_mean(state, info):
        return getattr(info, "visible_mean", None)

    @jax.jit
    def run(state, keys):
        state, means = runner.run_steps(
            algorithm, state, params, keys, vmap_chains=not batched, transform=visible_mean
        )
        return state, jax.tree.map(lambda m: m[-1], means)

    keys = jax.random.split(key_run, sweeps)
    state, means = runner.init_chains(algorithm, start, params, vmap_chains=not batched), None
    chunk = -(-sweeps // PROGRESS_CHUNKS) if progress else sweeps  # at most two shapes
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sweeps, desc=f"{kernel} sweeps", unit="sweep")
    for first in range(0, sweeps, chunk):
        state, means = run(state, keys[first : first + chunk])
        if bar is not None:
            jax.block_until_ready(state)
            bar.update(min(chunk, sweeps - first))
    if bar is not None:
        bar.close()
    visible = state.visible if hasattr(state, "visible") else state.position
    return visible, means


def clamped(model, params, key, partial, chains_per_row: int, sweeps: int):
    """``(samples (chains, rows, D), mean (rows, D))`` with the finite units of ``partial`` clamped."""
    import jax
    import jax.numpy as jnp

    from numpyro_ebm.kernels import clamped_gibbs, runner

    gibbs = clamped_gibbs.as_top_level_api(model.removesuffix("-rbm"))
    partial = jnp.asarray(partial)
    observed = jnp.broadcast_to(jnp.isfinite(partial), (chains_per_row, *partial.shape))
    key_fill, key_burn, key_run = jax.random.split(key, 3)
    fill = _initial_visible(model, params, key_fill, observed.shape)
    start = jnp.where(observed, jnp.nan_to_num(partial), fill)
    state = gibbs.init(start, params, observed)
    burn_in = sweeps // 2
    kept = sweeps - burn_in

    @jax.jit
    def run(state, key_burn, key_run):
        if burn_in:
            state = runner.run_steps(
                gibbs,
                state,
                params,
                jax.random.split(key_burn, burn_in),
                vmap_chains=False,
                transform=runner.final_state_only,
            )[0]

        def body(carry, k):
            state, total = carry
            state, info = gibbs.step(k, state, params)
            return (state, total + info.visible_mean), None

        (state, total), _ = jax.lax.scan(
            body, (state, jnp.zeros_like(state.visible)), jax.random.split(key_run, kept)
        )
        return state.visible, jnp.mean(total, axis=0) / kept

    return run(state, key_burn, key_run)


def run(args) -> int:
    import jax
    import numpy as np

    from numpyro_ebm.learning.checkpoint import load_model

    model, params, meta = load_model(args.checkpoint)
    allowed = KERNELS[args.kernel]
    if model not in allowed:
        raise CommandError(
            f"--kernel {args.kernel} samples {' and '.join(allowed)} models; the checkpoint holds "
            f"a {model}"
        )
    n_visible = params.W1.shape[0] if model == "dbm" else params.W.shape[0]
    shape = image_shape(args.image_shape, n_visible)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(args.seed)
    arrays: dict[str, np.ndarray] = {}
    if args.clamp is not None:
        if model == "dbm":
            raise CommandError("--clamp works for the bernoulli-rbm and gaussian-rbm")
        partial = load_array(args.clamp, key=args.clamp_key, what="clamp rows")
        if partial.shape[1] != n_visible:
            raise CommandError(
                f"the clamp rows have {partial.shape[1]} units but the model has {n_visible} "
                "visible units"
            )
        finite = np.isfinite(partial)
        if model == "bernoulli-rbm" and not np.all(np.isin(partial[finite], (0.0, 1.0))):
            raise CommandError("the observed units of --clamp must be 0 or 1 for a bernoulli-rbm")
        samples, mean = clamped(model, params, key, partial, args.chains_per_row, args.sweeps)
        arrays = {"samples": np.asarray(samples), "mean": np.asarray(mean), "observed": finite}
        print(
            f"{len(partial)} rows, {int((~finite).sum())} missing units: {args.chains_per_row} "
            f"chains a row, {args.sweeps} clamped Gibbs sweeps"
        )
    else:
        visible, means = draw(
            model,
            params,
            args.kernel,
            key,
            args.n_samples,
            args.sweeps,
            args.step_size,
            progress=not args.no_progress,
        )
        arrays = {"samples": np.asarray(visible)}
        if args.save_means:
            arrays["means"] = np.asarray(means)
        print(f"{args.n_samples} chains, {args.sweeps} {args.kernel} steps each from noise")
    if not all(np.all(np.isfinite(a)) for a in arrays.values() if a.dtype.kind == "f"):
        raise CommandError("the samples are not finite (a step size too large for hmc/mala?)")
    np.savez(output / "samples.npz", **arrays)
    written = [output / "samples.npz"]
    if shape is not None and not args.no_plots:
        from numpyro_ebm import plots

        if args.clamp is not None:
            shown = np.where(arrays["observed"], np.nan_to_num(partial), 0.5)
            grid = np.stack([shown, arrays["mean"], arrays["samples"][0]], axis=1)
            written.append(
                plots.image_grid(
                    grid.reshape(-1, n_visible)[: 3 * 32],
                    shape,
                    output / "samples.png",
                    columns=3,
                    title="observed (grey: missing) | E[v | observed] | a sample",
                )
            )
        else:
            written.append(
                plots.image_grid(
                    arrays["samples"][:100],
                    shape,
                    output / "samples.png",
                    title=f"{args.kernel}, {args.sweeps} steps",
                )
            )
    write_json(
        output / "sample_summary.json",
        {
            "checkpoint": str(args.checkpoint),
            "model": model,
            "epoch": meta["epoch"],
            "kernel": args.kernel,
            "sweeps": args.sweeps,
            "mean_of_samples": float(np.mean(arrays["samples"])),
            "clamp": args.clamp,
        },
    )
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
