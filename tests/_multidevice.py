"""Checks run in a subprocess with 4 forced host devices (see tests/test_sharding.py).

``python tests/_multidevice.py NAME...`` runs the named checks and prints one
JSON object ``{name: result}``. Each check runs the same computation without a
mesh and on meshes of 1, 2 and 4 devices, and reports for every device count
whether the outputs are bit-identical to the unsharded run and their largest
absolute difference, so the test asserts the device-count guarantee of
:mod:`numpyro_ebm.sharding`. XLA_FLAGS must be set before JAX is imported,
which is why this is a separate process and not a fixture: the rest of the
suite keeps its single device.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
)

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

from numpyro_ebm import diagnostics, sharding  # noqa: E402
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm  # noqa: E402
from numpyro_ebm.evaluation import ais, annealing, deep  # noqa: E402
from numpyro_ebm.kernels import binary_gibbs, mala, rbm_gibbs  # noqa: E402
from numpyro_ebm.kernels import parallel_tempering as pt  # noqa: E402
from numpyro_ebm.learning import layout as training_layout  # noqa: E402
from numpyro_ebm.learning import rbm as rbm_rules  # noqa: E402
from numpyro_ebm.learning import tempered  # noqa: E402
from numpyro_ebm.learning.fit import fit  # noqa: E402

DEVICE_COUNTS = (1, 2, 4)
CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def compare(reference, other) -> dict:
    """Bit identity and largest absolute difference of two pytrees of arrays.

    ``split`` says whether some output of the sharded run is actually split
    over devices (and not gathered onto each of them).
    """
    split = any(
        isinstance(x, jax.Array) and not x.sharding.is_fully_replicated
        for x in jax.tree.leaves(other)
    )
    left = [np.asarray(x) for x in jax.tree.leaves(reference)]
    right = [np.asarray(x) for x in jax.tree.leaves(sharding.to_host(other))]
    assert len(left) == len(right)
    identical = all(
        a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(left, right, strict=True)
    )
    diff = max(
        (
            float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))
            for a, b in zip(left, right, strict=True)
        ),
        default=0.0,
    )
    return {"identical": identical, "max_abs_diff": diff, "split": split}


def over_device_counts(run) -> dict:
    """``run(mesh)`` without a mesh and on 1, 2, 4 devices, compared with the unsharded run."""
    reference = sharding.to_host(run(None))
    return {str(n): compare(reference, run(sharding.make_mesh(n))) for n in DEVICE_COUNTS}


def _rbm(n_visible=12, n_hidden=8):
    params = bernoulli_rbm.init_params(jax.random.key(0), n_visible, n_hidden)
    return params._replace(W=0.5 * jax.random.normal(jax.random.key(1), params.W.shape))


def _binary(key, shape):
    return (jax.random.uniform(jax.random.key(key), shape) < 0.5).astype(jnp.float32)


@check
def ais_rbm():
    params, schedule = _rbm(), ais.default_schedule(200)
    data = _binary(3, (4, 12))

    def run(mesh):
        forward = ais.ais_bernoulli_rbm(
            jax.random.key(2), params, n_runs=8, schedule=schedule, mesh=mesh
        )
        reverse = ais.raise_bernoulli_rbm(
            jax.random.key(4), params, data, n_runs=2, schedule=schedule, mesh=mesh
        )
        return forward.samples, forward.log_weights, forward.log_z, reverse.log_weights

    return over_device_counts(run)


@check
def ais_dbm():
    params = dbm.init_params(jax.random.key(5), 6, 4, 3)
    schedule = ais.default_schedule(100)

    def run(mesh):
        result = deep.ais_dbm(jax.random.key(6), params, n_runs=8, schedule=schedule, mesh=mesh)
        return result.samples, result.log_weights

    return over_device_counts(run)


def _gaussian_energy(params, x):
    return 0.5 * jnp.sum(jnp.square(x - params), axis=-1)


def _mala(energy_fn):
    return mala.as_top_level_api(energy_fn, step_size=0.2)


@check
def ais_generic():
    rng = np.random.default_rng(0)
    upper = np.triu(rng.standard_normal((6, 6)), k=1)
    params = boltzmann.BoltzmannParams(
        jnp.asarray(upper + upper.T, jnp.float32), jnp.asarray(rng.standard_normal(6), jnp.float32)
    )
    uniform = annealing.BernoulliBase(jnp.zeros(6, jnp.float32))
    mean = jnp.asarray([0.5, -0.5], jnp.float32)
    gaussian = annealing.GaussianBase(jnp.zeros(2, jnp.float32), jnp.ones(2, jnp.float32))

    def run(mesh):
        gibbs = annealing.ais(
            jax.random.key(8),
            boltzmann.energy,
            params,
            uniform,
            binary_gibbs.as_top_level_api,
            n_runs=8,
            n_temperatures=50,
            vmap_chains=False,
            mesh=mesh,
        )
        vmapped = annealing.ais(
            jax.random.key(9),
            _gaussian_energy,
            mean,
            gaussian,
            _mala,
            n_runs=8,
            n_temperatures=20,
            mesh=mesh,
        )
        return (
            gibbs.samples,
            gibbs.log_weights,
            vmapped.samples,
            vmapped.log_weights,
        )

    return over_device_counts(run)


@check
def chains():
    params = _rbm()
    start = _binary(11, (8, 12))
    energy = jax.jit(bernoulli_rbm.free_energy)

    def run(mesh):
        gibbs = diagnostics.run_chains(
            jax.random.key(12),
            rbm_gibbs.as_top_level_api(),
            start,
            params,
            20,
            thin=2,
            batched=True,
            mesh=mesh,
        )
        _, idata = diagnostics.compare_samplers(
            jax.random.key(14),
            {"gibbs": diagnostics.SamplerSpec(rbm_gibbs.as_top_level_api(), batched=True)},
            start,
            params,
            n_steps=10,
            energy_fn=energy,
            return_inference_data=True,
            mesh=mesh,
        )
        compared = {k: v.values for k, v in idata["gibbs"].posterior.data_vars.items()}
        return gibbs[0].visible, gibbs[0].hidden, compared

    return over_device_counts(run)


def _train(mesh, epochs=2, n_chains=8, **kwargs):
    data = _binary(20, (64, 12))
    params = kwargs.pop("params", None) or _rbm()
    return fit(
        jax.random.key(21),
        params,
        data,
        rbm_rules.bernoulli_rbm_pcd(n_chains=n_chains),
        optax.sgd(0.05),
        epochs=epochs,
        batch_size=16,
        progress=False,
        mesh=mesh,
        **kwargs,
    )


def _history(result):
    return {k: np.asarray(v) for k, v in result.history.items() if k != "wall_time"}


def _fit_comparison(reference, result):
    return {
        "chains": compare(reference.rule_state, result.rule_state),
        "params": compare(reference.params, result.params),
        "history": compare(_history(reference), _history(result)),
    }


@check
def fit_all():
    """Closed-form PCD-1 (batched kernel), four epochs, on several layouts against no mesh.

    Chains over ``chain`` on 1, 2, 4 devices; minibatches over ``data`` on 4; a
    2 x 2 (chain, data) mesh; a 2 x 2 (chain, model) mesh with W split over its
    hidden units by the user; and a run checkpointed after two epochs on 4
    devices and resumed on 2, on none, and on 4.
    """
    reference = _train(None, epochs=4)
    out = {"chain": {}}
    runs = {}
    for n in DEVICE_COUNTS:
        runs[n] = _train(sharding.make_mesh(n), 4)
        out["chain"][str(n)] = _fit_comparison(reference, runs[n])
    out["data"] = _fit_comparison(reference, _train(sharding.make_mesh(4, ("data",)), 4))
    grid = np.array(jax.devices()).reshape(2, 2)
    out["both"] = _fit_comparison(reference, _train(sharding.Mesh(grid, ("chain", "data")), 4))
    model_mesh = sharding.Mesh(grid, ("chain", "model"))
    params = _rbm()
    placed = params._replace(
        W=jax.device_put(params.W, sharding.sharding_for(model_mesh, None, "model")),
        c=jax.device_put(params.c, sharding.sharding_for(model_mesh, "model")),
    )
    model = _train(model_mesh, 4, params=placed)
    out["model"] = _fit_comparison(reference, model)
    out["model"]["W_spec"] = str(model.params.W.sharding.spec)
    out["resume"] = {}
    with tempfile.TemporaryDirectory() as first_half:
        _train(sharding.make_mesh(4), epochs=2, checkpoint_dir=first_half)
        for name, mesh in (
            ("2", sharding.make_mesh(2)),
            ("none", None),
            ("4", sharding.make_mesh(4)),
        ):
            with tempfile.TemporaryDirectory() as directory:
                shutil.copytree(first_half, directory, dirs_exist_ok=True)
                resumed = _train(mesh, epochs=4, checkpoint_dir=directory, resume=True)
            out["resume"][name] = _fit_comparison(reference, resumed)
            out["resume"][name]["epochs"] = resumed.epochs_completed
            out["resume"][name]["vs_four_devices"] = compare(
                (runs[4].params, runs[4].rule_state, _history(runs[4])),
                (resumed.params, resumed.rule_state, _history(resumed)),
            )
    return out


@check
def fit_bad_meshes():
    return {
        "chains_not_divisible": _error(lambda: _train(sharding.make_mesh(4), n_chains=6)),
        "batch_not_divisible": _error(lambda: _train(sharding.make_mesh(3, ("data",)))),
        "unknown_axis": _error(lambda: _train(sharding.make_mesh(2), data_axis="batch")),
        "no_known_axis": _error(lambda: _train(sharding.make_mesh(2, ("x",)))),
    }


def _error(call) -> str:
    try:
        call()
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


@check
def bad_meshes():
    params, schedule = _rbm(), ais.default_schedule(10)
    four = sharding.make_mesh(4)
    return {
        "not_divisible": _error(
            lambda: ais.ais_bernoulli_rbm(
                jax.random.key(0), params, n_runs=6, schedule=schedule, mesh=four
            )
        ),
        "unknown_axis": _error(
            lambda: ais.ais_bernoulli_rbm(
                jax.random.key(0), params, n_runs=8, schedule=schedule, mesh=four, chain_axis="x"
            )
        ),
        "no_chain_axis": _error(
            lambda: ais.ais_bernoulli_rbm(
                jax.random.key(0),
                params,
                n_runs=8,
                schedule=schedule,
                mesh=sharding.make_mesh(4, ("data",)),
            )
        ),
        "not_a_mesh": _error(
            lambda: ais.ais_bernoulli_rbm(
                jax.random.key(0), params, n_runs=8, schedule=schedule, mesh=jax.devices()
            )
        ),
    }


@check
def docs_example():
    """The examples of docs/scaling.md, run here on 4 devices; returns what they printed."""
    import contextlib
    import io
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
    text = doc.read_text()
    sections = re.findall(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S)
    namespace = {"__name__": "__doc_example__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for section in sections:  # in order, in one namespace
            code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
            exec(compile(code, str(doc), "exec"), namespace)
    return printed.getvalue()


# --------------------------------------------------------------------------------------
# Parallel tempering composed with sharding (issue 12): the chains are split, not the
# ladder, so the swaps stay on one device
# --------------------------------------------------------------------------------------

PT_LADDER = (4, 0.1)  # geometric_ladder(n_replicas, min_inverse_temperature)
COLLECTIVE = re.compile(
    r"\b(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)(?:-start)?\("
)


def collectives(compiled) -> dict:
    """How many of each cross-device collective the compiled (partitioned) HLO contains."""
    counts: dict = {}
    for name in COLLECTIVE.findall(compiled.as_text()):
        counts[name] = counts.get(name, 0) + 1
    return counts


def _specs(tree) -> Any:
    return jax.tree.map(lambda x: str(x.sharding.spec), tree)


class _PTView(NamedTuple):
    """A PT state with its target replica's position in front (as bench/sampler_shootout.py)."""

    position: jax.Array
    pt: pt.PTState


def _pt_spec(betas):
    algorithm = pt.as_top_level_api(pt.rbm_tempering())
    n_replicas = betas.shape[0]

    def init(position, params):
        stacked = jnp.broadcast_to(position, (n_replicas,) + position.shape)
        return _PTView(position, algorithm.init(stacked, params, betas))

    def step(key, state, params):
        new, info = algorithm.step(key, state.pt, params, betas)
        return _PTView(new.replicas.visible[-1], new), {"round_trips": info.round_trips}

    from blackjax.base import SamplingAlgorithm

    return diagnostics.SamplerSpec(SamplingAlgorithm(init, step), batched=True)


@check
def pt_chains():
    """PT over RBM block Gibbs (K=4 replicas x 8 chains) in run_chains and compare_samplers.

    Numbers on 1, 2, 4 devices against no mesh; the layouts of the draws and of a
    placed state; the collectives in the compiled PT step with the chains split (none
    expected) and, for contrast, with the ladder split over the devices.
    """
    params = _rbm()
    betas = pt.geometric_ladder(*PT_LADDER)
    n_replicas, n_chains = betas.shape[0], 8
    start = _binary(30, (n_chains, 12))
    positions = jnp.broadcast_to(start, (n_replicas, n_chains, 12))
    algorithm = pt.as_top_level_api(pt.rbm_tempering())
    tempered_params = pt.TemperedParams(params, betas)
    energy = jax.jit(bernoulli_rbm.free_energy)
    specs = {}

    def run(mesh):
        states, infos = diagnostics.run_chains(
            jax.random.key(31), algorithm, positions, tempered_params, 12, batched=True, mesh=mesh
        )
        _, idata = diagnostics.compare_samplers(
            jax.random.key(32),
            {"pt": _pt_spec(betas)},
            start,
            params,
            n_steps=8,
            energy_fn=energy,
            return_inference_data=True,
            mesh=mesh,
        )
        if mesh is not None:
            specs[str(mesh.size)] = {
                "draws_visible": str(states.replicas.visible.sharding.spec),
                "draws_replica_index": str(states.replica_index.sharding.spec),
                "draws_round_trips": str(states.round_trips.sharding.spec),
                "info_swap_acceptance": str(infos.swap_acceptance.sharding.spec),
                "info_hidden_probs": str(infos.replica_info.hidden_probs.sharding.spec),
            }
        compared = {k: v.values for k, v in idata["pt"].posterior.data_vars.items()}
        compared["round_trips"] = idata["pt"].sample_stats["round_trips"].values
        return states, infos, compared

    out = {"compare": over_device_counts(run), "draw_specs": specs}
    four = sharding.make_mesh(4)
    state = algorithm.init(positions, params, betas)
    placed = sharding.put_chains(state, four, dim=sharding.chain_dims(state))
    out["state_specs"] = _specs(placed)._asdict()
    out["state_specs"]["replicas"] = out["state_specs"]["replicas"]._asdict()
    view = _pt_spec(betas).algorithm.init(start, params)
    from numpyro_ebm.diagnostics.comparison import _placement

    placed_view, _ = _placement(four, "chain", n_chains)(view, params, True)
    out["compare_samplers_state_visible"] = str(placed_view.pt.replicas.visible.sharding.spec)
    key = jax.random.key(33)
    whole = sharding.put_replicated(tempered_params, four)
    step = jax.jit(algorithm.step)
    out["step_collectives"] = collectives(step.lower(key, placed, whole).compile())
    ladder_split = sharding.put_chains(state, four, dim=0, count=n_replicas)
    out["ladder_split_collectives"] = collectives(step.lower(key, ladder_split, whole).compile())
    # the split step computes the same numbers as the unsplit one
    out["step_vs_one_device"] = compare(step(key, state, tempered_params), step(key, placed, whole))
    return out


def _train_tempered(mesh, rule, epochs=3):
    data = _binary(20, (64, 12))
    return fit(
        jax.random.key(34),
        _rbm(),
        data,
        rule,
        optax.sgd(0.05),
        epochs=epochs,
        batch_size=16,
        progress=False,
        mesh=mesh,
    )


@check
def pt_fit():
    """fit with the closed-form PT-PCD on 1, 2, 4 devices, the generic pt_pcd on 4, against no
    mesh; the layout of the trained rule state; the collectives of the compiled rule step."""
    betas = pt.geometric_ladder(*PT_LADDER)
    fast = tempered.bernoulli_rbm_pt_pcd(8, betas)
    generic = tempered.pt_pcd(bernoulli_rbm.free_energy, pt.rbm_tempering(), 8, betas)
    reference = _train_tempered(None, fast)
    out = {"rbm_pt_pcd": {}}
    for n in DEVICE_COUNTS:
        result = _train_tempered(sharding.make_mesh(n), fast)
        out["rbm_pt_pcd"][str(n)] = _fit_comparison(reference, result)
    chains = result.rule_state.chains  # on 4 devices
    out["specs"] = {
        "visible": str(chains.replicas.visible.sharding.spec),
        "replica_index": str(chains.replica_index.sharding.spec),
        "round_trips": str(chains.round_trips.sharding.spec),
        "step_count": str(chains.step_count.sharding.spec),
        "inverse_temperatures": str(result.rule_state.inverse_temperatures.sharding.spec),
    }
    out["history_keys"] = sorted(result.history)
    out["pt_pcd"] = _fit_comparison(
        _train_tempered(None, generic, 2), _train_tempered(sharding.make_mesh(4), generic, 2)
    )
    # the rule step as fit places it: only the gradient's mean over chains crosses devices
    four = sharding.make_mesh(4)
    params = _rbm()
    data = _binary(20, (64, 12))
    state = fast.init(jax.random.key(35), params, data)
    placed = sharding.put_chains(state, four, dim=training_layout.chain_leaf_dims(state))
    whole = sharding.put_replicated((params, data[:16]), four)
    step = jax.jit(fast.step).lower(jax.random.key(36), placed, *whole).compile()
    out["rule_step_collectives"] = collectives(step)
    return out


def main(names):
    assert len(jax.devices()) == 4, jax.devices()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["NUMPYRO_EBM_SCRATCH"] = scratch
        for name in names or list(CHECKS):
            results[name] = CHECKS[name]()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
