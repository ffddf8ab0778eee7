"""Every public energy and conditional rejects concrete bad input with a clear error.

Before these checks, a wrong width failed inside ``dot_general`` and params given
as a dict failed with ``AttributeError: 'W'``. The checks are static (types and
shapes), so they cost nothing under ``jit``; these calls are eager on tiny arrays.
"""

import jax
import jax.numpy as jnp
import pytest

from numpyro_ebm.energies import (
    bernoulli_rbm,
    boltzmann,
    dbm,
    gaussian_rbm,
    lattice_ising,
    mlp,
    poe,
)

D, K = 3, 2
KEY = jax.random.key(0)
RBM = bernoulli_rbm.init_params(KEY, D, K)
GRBM = gaussian_rbm.init_params(KEY, D, K)
BM = boltzmann.init_params(KEY, D)
ISING = lattice_ising.init_params(KEY, (2, 3))
DBM = dbm.init_params(KEY, D, K, 2)
MLP = mlp.init_params(KEY, (D, 4))
POE = poe.init_params(KEY, 2, D)
BOX = poe.make_box(-3.0, 3.0, D)
STUDENT = poe.init_student_t_params(KEY, 4, D)

v3, v4 = jnp.zeros((5, D)), jnp.zeros((5, D + 1))
h2, h3 = jnp.zeros((5, K)), jnp.zeros((5, K + 1))
s23, s33 = jnp.ones((5, 2, 3)), jnp.ones((5, 3, 3))

# (name, function, params, good args, args with a wrong width, the argument named)
CASES = [
    ("rbm.free_energy", bernoulli_rbm.free_energy, RBM, (v3,), (v4,), "v"),
    ("rbm.hidden_logits", bernoulli_rbm.hidden_logits, RBM, (v3,), (v4,), "v"),
    ("rbm.hidden_probs", bernoulli_rbm.hidden_probs, RBM, (v3,), (v4,), "v"),
    ("rbm.visible_logits", bernoulli_rbm.visible_logits, RBM, (h2,), (h3,), "h"),
    ("rbm.visible_probs", bernoulli_rbm.visible_probs, RBM, (h2,), (h3,), "h"),
    ("rbm.joint_energy", bernoulli_rbm.joint_energy, RBM, (v3, h2), (v3, h3), "h"),
    ("rbm.hidden_free_energy", bernoulli_rbm.hidden_free_energy, RBM, (h2,), (h3,), "h"),
    ("grbm.free_energy", gaussian_rbm.free_energy, GRBM, (v3,), (v4,), "v"),
    ("grbm.hidden_logits", gaussian_rbm.hidden_logits, GRBM, (v3,), (v4,), "v"),
    ("grbm.visible_mean", gaussian_rbm.visible_mean, GRBM, (h2,), (h3,), "h"),
    ("grbm.joint_energy", gaussian_rbm.joint_energy, GRBM, (v3, h2), (v4, h2), "v"),
    ("grbm.hidden_free_energy", gaussian_rbm.hidden_free_energy, GRBM, (h2,), (h3,), "h"),
    ("boltzmann.energy", boltzmann.energy, BM, (v3,), (v4,), "x"),
    ("boltzmann.local_field", boltzmann.local_field, BM, (v3,), (v4,), "x"),
    ("boltzmann.conditional_logits", boltzmann.conditional_logits, BM, (v3,), (v4,), "x"),
    ("ising.energy", lattice_ising.energy, ISING, (s23,), (s33,), "s"),
    ("ising.local_field", lattice_ising.local_field, ISING, (s23,), (s33,), "s"),
    ("ising.conditional_logits", lattice_ising.conditional_logits, ISING, (s23,), (s33,), "s"),
    ("dbm.joint_energy", dbm.joint_energy, DBM, (v3, h2, h2), (v3, h3, h2), "h1"),
    ("dbm.outer_free_energy", dbm.outer_free_energy, DBM, (v3, h2), (v4, h2), "v"),
    ("dbm.hidden1_free_energy", dbm.hidden1_free_energy, DBM, (h2,), (h3,), "h1"),
    ("dbm.hidden1_logits", dbm.hidden1_logits, DBM, (v3, h2), (v3, h3), "h2"),
    ("dbm.visible_logits", dbm.visible_logits, DBM, (h2,), (h3,), "h1"),
    ("dbm.hidden2_logits", dbm.hidden2_logits, DBM, (h2,), (h3,), "h1"),
    ("dbm.mean_field", dbm.mean_field, DBM, (v3,), (v4,), "v"),
    ("dbm.variational_free_energy", dbm.variational_free_energy, DBM, (v3,), (v4,), "v"),
    ("mlp.energy", mlp.energy, MLP, (v3,), (v4,), "x"),
    ("poe.energy", lambda p, x: poe.energy(p, x, BOX), POE, (v3,), (v4,), "x"),
    ("poe.expert_logits", lambda p, x: poe.expert_logits(p, x, BOX), POE, (v3,), (v4,), "x"),
    ("poe.product_of_active_gaussians", poe.product_of_active_gaussians, POE, (h2,), (h3,), "z"),
    ("poe.student_t_energy", poe.student_t_energy, STUDENT, (v3,), (v4,), "x"),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("name", "fn", "params", "good", "wrong", "arg"), CASES, ids=IDS)
def test_wrong_width_names_the_argument(name, fn, params, good, wrong, arg):
    fn(params, *good)  # the good call works
    with pytest.raises(
        ValueError, match=rf"^{arg} (has \d+ .* but the model has \d+|must have shape)"
    ):
        fn(params, *wrong)


@pytest.mark.parametrize(("name", "fn", "params", "good", "wrong", "arg"), CASES, ids=IDS)
def test_params_as_a_dict_is_a_type_error(name, fn, params, good, wrong, arg):
    as_dict = params._asdict()
    with pytest.raises(TypeError, match=rf"params must be a {type(params).__name__} with fields"):
        fn(as_dict, *good)


def test_dict_params_error_says_how_to_build_the_namedtuple():
    with pytest.raises(TypeError, match=r"BernoulliRBMParams\(\*\*params\)"):
        bernoulli_rbm.free_energy({"W": RBM.W, "b": RBM.b, "c": RBM.c}, v3)


def test_integer_input_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="v must have a floating-point dtype"):
        bernoulli_rbm.free_energy(RBM, jnp.zeros((5, D), dtype=jnp.int32))


def test_scalar_input_is_rejected():
    with pytest.raises(ValueError, match="v must have at least 1 dimension"):
        bernoulli_rbm.free_energy(RBM, jnp.float32(0.0))


def test_checks_run_under_jit_without_values():
    # shapes are static: the width check fires while tracing, and a good call compiles
    with pytest.raises(ValueError, match="v has 4 visible units"):
        jax.jit(bernoulli_rbm.free_energy)(RBM, v4)
    assert jax.jit(bernoulli_rbm.free_energy)(RBM, v3).shape == (5,)
