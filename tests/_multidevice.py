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
import shutil  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")

from numpyro_ebm import diagnostics, sharding  # noqa: E402
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, dbm  # noqa: E402
from numpyro_ebm.evaluation import ais, annealing, deep  # noqa: E402
from numpyro_ebm.kernels import binary_gibbs, mala, rbm_gibbs  # noqa: E402
from numpyro_ebm.learning import rbm as rbm_rules  # noqa: E402
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
    """The example of docs/scaling.md, run here on 4 devices; returns what it printed."""
    import contextlib
    import io
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
    text = doc.read_text()
    section = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(doc), "exec"), {"__name__": "__doc_example__"})
    return printed.getvalue()


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
