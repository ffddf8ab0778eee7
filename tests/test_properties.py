"""Property-based tests: generated input either works or fails with a clear error.

For every public entry point below, a call on generated input either succeeds
(with finite results) or raises ``ValueError``/``TypeError`` whose message names
the argument, and the error is raised by this library's own checks (the
innermost frame of the traceback is in ``numpyro_ebm``), not deep inside JAX.

Cheap by construction: shapes come from a tiny fixed set, so every compiled
function is compiled a few times at most; ``derandomize=True`` makes the
examples the same on every run. The ``slow`` variants draw many more examples.
"""

import math
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpyro_ebm import cli, datasets, diagnostics
from numpyro_ebm.energies import bernoulli_rbm, boltzmann, gaussian_rbm, lattice_ising, mlp, poe
from numpyro_ebm.evaluation import ais, exact
from numpyro_ebm.kernels import binary_gibbs, boltzmann_gibbs, mala, random_walk, rbm_gibbs
from numpyro_ebm.learning import cd, fit, pcd
from numpyro_ebm.learning import rbm as rbm_rules

FAST = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

D, K = 4, 3
KEY = jax.random.key(0)
RBM = bernoulli_rbm.init_params(KEY, D, K, weight_scale=0.5)
RBM_WIDE = bernoulli_rbm.init_params(KEY, K, D)  # D hidden units: h has D columns
GRBM = gaussian_rbm.init_params(KEY, D, K)
BM = boltzmann.init_params(KEY, D, scale=0.5)
ISING = lattice_ising.init_params(KEY, (1, D))  # a row of D sites: x reshaped to (1, D)
MLP = mlp.init_params(KEY, (D, 5))
POE = poe.init_params(KEY, 2, D)
BOX = poe.make_box(-3.0, 3.0, D)


def _raised_here(error: BaseException) -> bool:
    """True when the innermost frame of the error is this library's (or argparse's) code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and (
        "numpyro_ebm" in frames[-1].filename or "argparse" in frames[-1].filename
    )


def _call(fn, names):
    """Run ``fn()``: its result, or None after checking that the error is a clear one."""
    try:
        return fn()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in names), (names, message)
        assert _raised_here(error), "".join(traceback.format_exception(error))
        return None


def _finite(tree) -> bool:
    return all(
        bool(np.all(np.isfinite(np.asarray(leaf))))
        for leaf in jax.tree.leaves(tree)
        if np.issubdtype(np.asarray(leaf).dtype, np.inexact)
    )


# ---------------------------------------------------------------------------------------
# inputs drawn from a tiny set of shapes, dtypes and special values
# ---------------------------------------------------------------------------------------

SHAPES = [(D,), (2, D), (2, D + 1), (2, D - 1), (), (0, D)]
DTYPES = [np.float32, np.int32, np.bool_]
VALUES = ["binary", "spins", "probabilities", "grey", "nan", "inf"]


def _array(shape, dtype, values, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "binary": rng.integers(0, 2, shape),
        "spins": 2 * rng.integers(0, 2, shape) - 1,
        "probabilities": rng.random(shape),
        "grey": 255 * rng.random(shape),
        "nan": np.full(shape, np.nan),
        "inf": np.full(shape, np.inf),
    }[values]
    if dtype is not np.float32 and values in ("nan", "inf"):
        return np.zeros(shape, dtype)
    return np.asarray(x).astype(dtype)


arrays = st.builds(
    _array, st.sampled_from(SHAPES), st.sampled_from(DTYPES), st.sampled_from(VALUES)
)

# ---------------------------------------------------------------------------------------
# energies and their conditionals (static checks: shape, dtype, params type)
# ---------------------------------------------------------------------------------------

ENERGIES = {
    "rbm.free_energy": (lambda p, x: bernoulli_rbm.free_energy(p, x), RBM, D, "v"),
    "rbm.hidden_probs": (lambda p, x: bernoulli_rbm.hidden_probs(p, x), RBM, D, "v"),
    "rbm.visible_probs": (bernoulli_rbm.visible_probs, RBM_WIDE, D, "h"),
    "grbm.free_energy": (lambda p, x: gaussian_rbm.free_energy(p, x), GRBM, D, "v"),
    "boltzmann.energy": (lambda p, x: boltzmann.energy(p, x), BM, D, "x"),
    "boltzmann.conditional_logits": (boltzmann.conditional_logits, BM, D, "x"),
    "ising.energy": (
        lambda p, x: lattice_ising.energy(p, x.reshape(x.shape[:-1] + (1,) + x.shape[-1:])),
        ISING,
        D,
        "s",
    ),
    "mlp.energy": (mlp.energy, MLP, D, "x"),
    "poe.energy": (lambda p, x: poe.energy(p, x, BOX), POE, D, "x"),
}


def check_energy(name, x, as_dict):
    fn, params, width, arg = ENERGIES[name]
    if as_dict:
        params = params._asdict()
    finite_input = np.all(np.isfinite(x)) if x.dtype.kind == "f" else True
    result = _call(lambda: fn(params, x), [arg, "params", "lattice"])
    if result is None:
        return
    assert not as_dict, "params given as a dict must be refused"
    assert x.dtype.kind == "f", "non-float input must be refused"
    assert x.ndim >= 1 and x.shape[-1] == width, f"shape {x.shape} must be refused"
    if finite_input and name != "poe.energy":  # poe: +inf outside its box, by definition
        assert _finite(result)


test_energies = FAST(given(st.sampled_from(list(ENERGIES)), arrays, st.booleans())(check_energy))
test_energies_long = pytest.mark.slow(
    LONG(given(st.sampled_from(list(ENERGIES)), arrays, st.booleans())(check_energy))
)


VALIDATORS = {
    "bernoulli_rbm.validate_visible": lambda x: bernoulli_rbm.validate_visible(RBM, x, "data"),
    "gaussian_rbm.validate_visible": lambda x: gaussian_rbm.validate_visible(GRBM, x, "data"),
    "boltzmann.validate_state(spins)": lambda x: boltzmann.validate_state(BM, x, True, "data"),
}


def check_validator(name, x):
    result = _call(lambda: VALIDATORS[name](x), ["data"])
    if result is not None:
        assert x.dtype.kind == "f" and np.all(np.isfinite(x)), "NaN/inf must be refused"
        if name.startswith("bernoulli"):
            assert set(np.unique(x)) <= {0.0, 1.0}
        if "spins" in name:
            assert set(np.unique(x)) <= {-1.0, 1.0}


test_validators = FAST(given(st.sampled_from(list(VALIDATORS)), arrays)(check_validator))

# ---------------------------------------------------------------------------------------
# kernels: init validates the position; step keeps the state finite
# ---------------------------------------------------------------------------------------


def _gauss(params, x):
    return 0.5 * jnp.sum(x**2) * params


KERNELS = {
    "rbm_gibbs": (rbm_gibbs.as_top_level_api(), RBM, False),
    "binary_gibbs": (binary_gibbs.as_top_level_api(bernoulli_rbm.free_energy), RBM, False),
    "boltzmann_gibbs(spins)": (boltzmann_gibbs.as_top_level_api(spins=True), BM, False),
    "mala": (mala.as_top_level_api(_gauss, 0.3), jnp.float32(1.0), True),
    "random_walk": (random_walk.as_top_level_api(_gauss, 0.5), jnp.float32(1.0), True),
}
_STEPS = {name: jax.jit(spec[0].step) for name, spec in KERNELS.items()}


def check_kernel(name, x):
    sampler, params, single_chain = KERNELS[name]
    if single_chain and x.ndim == 2 and x.shape[0] > 0:
        x = x[0]
    state = _call(lambda: sampler.init(x, params), ["position", "v", "x", "s", "units"])
    if state is None:
        return
    assert x.dtype.kind == "f" and np.all(np.isfinite(x)), "NaN/inf/int positions must be refused"
    new_state, _ = _STEPS[name](jax.random.key(1), state, params)
    assert _finite(new_state)


test_kernels = FAST(given(st.sampled_from(list(KERNELS)), arrays)(check_kernel))
test_kernels_long = pytest.mark.slow(
    LONG(given(st.sampled_from(list(KERNELS)), arrays)(check_kernel))
)


def _kernel_specs():
    from tests.kernels.test_contract import SPECS

    return {spec.name: spec for spec in SPECS}


KERNEL_SPECS = _kernel_specs()
CORRUPTIONS = ["nan", "inf", "int", "extra column", "scalar"]


def _corrupt(position, corruption):
    leaves, treedef = jax.tree.flatten(position)
    leaf = np.asarray(leaves[0])
    if corruption in ("nan", "inf"):
        leaf = leaf.copy()
        leaf.flat[0] = np.nan if corruption == "nan" else np.inf
    elif corruption == "int":
        leaf = leaf.astype(np.int32)
    elif corruption == "extra column":
        leaf = np.concatenate([leaf, leaf[..., :1]], axis=-1) if leaf.ndim else leaf[None]
    else:
        leaf = leaf.reshape(-1)[0]
    return jax.tree.unflatten(treedef, [leaf, *leaves[1:]])


def check_kernel_init_refuses_bad_positions(name, corruption):
    """Every kernel of the contract suite: init refuses NaN, inf and integer positions, and a
    position of another shape unless the energy takes it."""
    spec = KERNEL_SPECS[name]
    params = spec.make_params(jnp.float32, 0)
    position = _corrupt(spec.make_position(jnp.float32), corruption)
    names = ["position", "visible", "hidden", "v", "x", "s", "z", "units", "state", "dimension"]
    state = _call(lambda: spec.make_algorithm().init(position, params), names)
    if corruption in ("nan", "inf", "int"):
        assert state is None, f"{name} accepted a position with {corruption}"
    elif state is not None:  # a shape the energy happens to accept (a scalar 1-D target)
        assert _finite(state)


test_kernel_init = FAST(
    given(st.sampled_from(sorted(KERNEL_SPECS)), st.sampled_from(CORRUPTIONS))(
        check_kernel_init_refuses_bad_positions
    )
)
test_kernel_init_long = pytest.mark.slow(
    LONG(
        given(st.sampled_from(sorted(KERNEL_SPECS)), st.sampled_from(CORRUPTIONS))(
            check_kernel_init_refuses_bad_positions
        )
    )
)

# ---------------------------------------------------------------------------------------
# fit with the learning rules: data, batch size, epochs, options
# ---------------------------------------------------------------------------------------

RULES = {
    "bernoulli_rbm_cd": rbm_rules.bernoulli_rbm_cd(),
    "bernoulli_rbm_pcd": rbm_rules.bernoulli_rbm_pcd(n_chains=4),
    "cd(rbm_gibbs)": cd(bernoulli_rbm.free_energy, rbm_gibbs.as_top_level_api()),
    "pcd(rbm_gibbs)": pcd(bernoulli_rbm.free_energy, rbm_gibbs.as_top_level_api(), n_chains=4),
}
FIT_DATA = [(16, D), (16, D + 1), (16,), (0, D)]


def check_fit(rule, shape, dtype, values, batch_size, epochs, on_divergence):
    data = _array(shape, dtype, values, seed=1)
    names = ["data", "batch_size", "epochs", "on_divergence", "held_out"]
    result = _call(
        lambda: fit(
            jax.random.key(2),
            RBM,
            data,
            RULES[rule],
            optax.sgd(0.05),
            epochs=epochs,
            batch_size=batch_size,
            on_divergence=on_divergence,
            progress=False,
            chain_diagnostics=False,
        ),
        names,
    )
    if result is None:
        return
    assert shape == (16, D) and dtype is np.float32
    assert values in ("binary", "probabilities") and batch_size in (4, 16)
    assert on_divergence in ("rollback", "raise") and epochs in (0, 1)
    if values == "probabilities":
        assert rule.startswith("bernoulli_rbm"), "generic binary-kernel rules want binary data"
    assert _finite(result.params)


fit_inputs = (
    st.sampled_from(list(RULES)),
    st.sampled_from(FIT_DATA),
    st.sampled_from([np.float32, np.int32]),
    st.sampled_from(["binary", "probabilities", "grey", "nan", "spins"]),
    st.sampled_from([4, 16, 17, 0, 2.5]),
    st.sampled_from([1, 0, -1]),
    st.sampled_from(["rollback", "raise", "ignore"]),
)
test_fit = FAST(given(*fit_inputs)(check_fit))
test_fit_long = pytest.mark.slow(LONG(given(*fit_inputs)(check_fit)))

# ---------------------------------------------------------------------------------------
# exact and AIS evaluation
# ---------------------------------------------------------------------------------------


def check_exact_log_likelihood(x):
    result = _call(lambda: exact.log_likelihood_bernoulli_rbm(RBM, x), ["data"])
    if result is not None:
        assert np.all(np.isfinite(result)) and np.all(result < 0)


test_exact_log_likelihood = FAST(given(arrays)(check_exact_log_likelihood))


def check_exact_log_partition(n_bits):
    result = _call(
        lambda: exact.log_partition_binary(bernoulli_rbm.free_energy, RBM, n_bits),
        ["bit", "n_bits"],
    )
    if result is not None:
        assert n_bits == D and math.isfinite(result)


test_exact_log_partition = FAST(
    given(st.sampled_from([D, 0, -2, 64, 2.5, "4"]))(check_exact_log_partition)
)

SCHEDULES = [
    np.linspace(0.0, 1.0, 5),
    np.array([0.0, 0.7, 0.5, 1.0]),
    np.array([0.1, 1.0]),
    np.array([0.0, np.nan, 1.0]),
    np.array([[0.0, 1.0]]),
]


def check_ais(n_runs, schedule_index):
    schedule = SCHEDULES[schedule_index]
    result = _call(
        lambda: ais.ais_bernoulli_rbm(jax.random.key(3), RBM, n_runs=n_runs, schedule=schedule),
        ["n_runs", "schedule"],
    )
    if result is not None:
        assert schedule_index == 0 and n_runs == 8
        assert math.isfinite(float(result.log_z))


test_ais = FAST(
    given(st.sampled_from([8, 0, -1, 2.5]), st.integers(0, len(SCHEDULES) - 1))(check_ais)
)

# ---------------------------------------------------------------------------------------
# to_inference_data
# ---------------------------------------------------------------------------------------

_DRAWS = np.asarray(jax.random.bernoulli(KEY, 0.5, (6, 2, D)), np.float32)  # (draw, chain, unit)


def check_to_inference_data(chain_axis, values, with_energy):
    draws = _DRAWS if values == "binary" else np.where(_DRAWS == 1, np.nan, _DRAWS)
    kwargs = dict(energy_fn=bernoulli_rbm.free_energy, params=RBM) if with_energy else {}
    idata = _call(
        lambda: diagnostics.to_inference_data(draws, chain_axis=chain_axis, **kwargs),
        ["chain_axis", "states", "position"],
    )
    if idata is not None:
        assert chain_axis in (0, 1, None)
        assert idata.state["position"].shape[-1] == D
        if values == "binary" and with_energy:
            assert np.all(np.isfinite(idata.posterior["free_energy"].values))


test_to_inference_data = FAST(
    given(
        st.sampled_from([0, 1, None, 2, "draw"]), st.sampled_from(["binary", "nan"]), st.booleans()
    )(check_to_inference_data)
)

# ---------------------------------------------------------------------------------------
# dataset loaders
# ---------------------------------------------------------------------------------------


def check_load_digits(test_fraction, threshold, binarize):
    split = _call(
        lambda: datasets.load_digits(binarize, threshold, test_fraction),
        ["test_fraction", "threshold"],
    )
    if split is not None:
        assert 0 < test_fraction < 1
        assert len(split.x_train) > 0 and len(split.x_test) > 0
        assert split.x_train.shape[1] == 64 and np.all(np.isfinite(split.x_train))
        values = np.unique(split.x_train)
        assert set(values) <= {0.0, 1.0} if binarize else (values.min() >= 0 and values.max() <= 1)


test_load_digits = FAST(
    given(
        st.sampled_from([0.2, 0.0, 1.0, -0.5, 1.5, float("nan")]),
        st.sampled_from([8, 0, 16, 17, -1]),
        st.booleans(),
    )(check_load_digits)
)


def check_toy_sampler(n, side):
    x = _call(lambda: datasets.four_squares(KEY, n, side=side), ["n", "side"])
    if x is not None:
        assert x.shape == (n, 2) and np.all(np.isfinite(x))


test_toy_sampler = FAST(
    given(st.sampled_from([5, 0, -1, 2.5, True]), st.sampled_from([1.0, 0.0, -1.0, float("inf")]))(
        check_toy_sampler
    )
)


def test_load_mnist_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "no-mnist.npz"
    with pytest.raises(FileNotFoundError, match="no-mnist.npz"):
        datasets.load_mnist(missing)


# ---------------------------------------------------------------------------------------
# the command line: argument validation (the CLI itself lives on another branch's work)
# ---------------------------------------------------------------------------------------


def check_cli_rejects_non_numbers(option, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", option, value, "--no-progress", "--no-plots"])
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


test_cli_rejects_non_numbers = FAST(
    given(
        option=st.sampled_from(
            ["--epochs", "--hidden", "--batch-size", "--seed", "--sample-sweeps"]
        ),
        value=st.sampled_from(["ten", "1.5", "", "1e3"]),
    )(check_cli_rejects_non_numbers)
)


def test_cli_rejects_an_unknown_command_and_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fly"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--layers", "3"])
    assert exit_info.value.code == 2 and "--layers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--hidden", "40"],
        ["--learning-rate", "nan"],
        ["--epochs", "-1"],
        ["--batch-size", "0"],
        ["--sample-sweeps", "-5"],
    ],
)
def test_cli_rejects_out_of_range_values_up_front(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", *argv, "--no-progress", "--no-plots"])
    assert exit_info.value.code == 2 and argv[0] in capsys.readouterr().err
