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
    data = _binary(7, (2, 6))

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
        reverse = annealing.reverse_ais(
            jax.random.key(10),
            boltzmann.energy,
            params,
            uniform,
            binary_gibbs.as_top_level_api,
            data,
            n_runs=4,
            n_temperatures=50,
            vmap_chains=False,
            mesh=mesh,
        )
        return (
            gibbs.samples,
            gibbs.log_weights,
            vmapped.samples,
            vmapped.log_weights,
            reverse.log_weights,
        )

    return over_device_counts(run)


@check
def chains():
    params = _rbm()
    start = _binary(11, (8, 12))
    gaussian = jnp.zeros((8, 2), jnp.float32)
    mean = jnp.asarray([0.5, -0.5], jnp.float32)
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
        vmapped = diagnostics.run_chains(
            jax.random.key(13), _mala(_gaussian_energy), gaussian, mean, 10, mesh=mesh
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
        return gibbs[0].visible, gibbs[0].hidden, vmapped[0].position, compared

    return over_device_counts(run)


def _train(mesh, rule, epochs=2, **kwargs):
    data = _binary(20, (64, 12))
    params = kwargs.pop("params", None) or _rbm()
    result = fit(
        jax.random.key(21),
        params,
        data,
        rule,
        optax.sgd(0.05),
        epochs=epochs,
        batch_size=16,
        progress=False,
        mesh=mesh,
        **kwargs,
    )
    return result


def _fit_mesh(n, kind):
    if kind == "chain":
        return sharding.make_mesh(n, ("chain",))
    if kind == "data":
        return sharding.make_mesh(n, ("data",))
    devices = np.array(jax.devices()[:n]).reshape(-1, 2 if n > 1 else 1)
    return sharding.Mesh(devices, ("chain", "data"))


def _fit_over_device_counts(kind, rule):
    reference = _train(None, rule)
    out = {}
    for n in DEVICE_COUNTS:
        result = _train(_fit_mesh(n, kind), rule)
        out[str(n)] = {
            "chains": compare(reference.rule_state, result.rule_state),
            "params": compare(reference.params, result.params),
            "history": compare(
                {k: np.asarray(v) for k, v in reference.history.items() if k != "wall_time"},
                {k: np.asarray(v) for k, v in result.history.items() if k != "wall_time"},
            ),
        }
    return out


@check
def fit_chains():
    """Closed-form PCD (batched kernel) with chains over `chain`, batches over `data`, both."""
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=8)
    return {kind: _fit_over_device_counts(kind, rule) for kind in ("chain", "data", "both")}


@check
def fit_resume():
    """Two epochs on 4 devices, checkpoint, two more on 2 devices (and on none): same as four at once."""
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=8)
    straight = _train(sharding.make_mesh(4), rule, epochs=4)
    out = {}
    for name, second in (
        ("2", sharding.make_mesh(2)),
        ("none", None),
        ("4", sharding.make_mesh(4)),
    ):
        with tempfile.TemporaryDirectory() as directory:
            _train(sharding.make_mesh(4), rule, epochs=2, checkpoint_dir=directory)
            resumed = _train(second, rule, epochs=4, checkpoint_dir=directory, resume=True)
        out[name] = {
            "chains": compare(straight.rule_state, resumed.rule_state),
            "params": compare(straight.params, resumed.params),
            "epochs": resumed.epochs_completed,
        }
    return out


@check
def fit_model_axis():
    """W split over a `model` axis by the user (hidden units), chains over `chain`: not prevented."""
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=8)
    mesh = sharding.Mesh(np.array(jax.devices()).reshape(2, 2), ("chain", "model"))
    params = _rbm()
    placed = params._replace(
        W=jax.device_put(params.W, sharding.sharding_for(mesh, None, "model")),
        c=jax.device_put(params.c, sharding.sharding_for(mesh, "model")),
    )
    reference = _train(None, rule, params=params)
    result = _train(mesh, rule, params=placed)
    return {
        "params": compare(reference.params, result.params),
        "chains": compare(reference.rule_state, result.rule_state),
        "W_spec": str(result.params.W.sharding.spec),
    }


@check
def fit_bad_meshes():
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=6)
    good = rbm_rules.bernoulli_rbm_pcd(n_chains=8)
    return {
        "chains_not_divisible": _error(lambda: _train(sharding.make_mesh(4), rule)),
        "batch_not_divisible": _error(lambda: _train(sharding.make_mesh(3, ("data",)), good)),
        "unknown_axis": _error(lambda: _train(sharding.make_mesh(2), good, data_axis="batch")),
        "no_known_axis": _error(lambda: _train(sharding.make_mesh(2, ("x",)), good)),
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
