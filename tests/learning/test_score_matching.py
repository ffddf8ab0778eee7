"""Score matching against closed forms from the literature, unbiasedness, and training.

- Gaussian energy: Hyvärinen's J in closed form, and its minimiser (the sample mean and
  inverse sample covariance, found exactly by one Newton step because J is quadratic in
  the natural parameters);
- Gaussian-Bernoulli RBM: Swersky et al.'s regularised autoencoder, and their latent-EBM
  theorem evaluated by enumerating the hidden units;
- RBM with Gaussian hidden units: a linear autoencoder with weight decay; with denoising
  score matching, a linear denoising autoencoder;
- Hutchinson and sliced estimators: unbiased (z-tests over many probes);
- denoising score matching: minimised by the smoothed Gaussian's parameters, near the
  true ones at small noise;
- the learning rule: the gradient of the loss, and ``fit`` lowers the loss.

Statistical tests state their false-failure rates; all seeds are fixed.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, linalg

from numpyro_ebm.energies import gaussian_rbm, mlp, poe
from numpyro_ebm.evaluation import exact
from numpyro_ebm.learning import fit
from numpyro_ebm.learning import score_matching as sm

# jitted entry points (eager evaluation of third derivatives is slow); energies are static
score = jax.jit(sm.score, static_argnums=0)
exact_objective = jax.jit(
    sm.exact_objective, static_argnums=0, static_argnames="hessian_chunk_size"
)
hutchinson_objective = jax.jit(
    sm.hutchinson_objective, static_argnums=1, static_argnames=("n_probes", "probe")
)
sliced_objective = jax.jit(
    sm.sliced_objective,
    static_argnums=1,
    static_argnames=("n_probes", "probe", "variance_reduction"),
)
denoising_objective = jax.jit(
    sm.denoising_objective, static_argnums=1, static_argnames="noise_scale"
)


def _rng(seed):
    return np.random.default_rng(seed)


def _f32(a):
    return jnp.asarray(a, jnp.float32)


# --------------------------------------------------------------------------------------
# Gaussian energies
# --------------------------------------------------------------------------------------


def gaussian_energy(params, x):
    """E(x) = 1/2 (x - mu)^T Lambda (x - mu)."""
    mu, precision = params
    d = x - mu
    return 0.5 * jnp.einsum("...i,ij,...j->...", d, precision, d)


def _random_gaussian(dim, seed):
    rng = _rng(seed)
    a = rng.standard_normal((dim, dim))
    return _f32(rng.standard_normal(dim)), _f32(a @ a.T / dim + np.eye(dim))


@pytest.mark.parametrize("chunk", [None, 3])
def test_exact_loss_of_a_gaussian_is_the_closed_form(chunk):
    # J(x) = 1/2 (x-mu)^T Lambda^2 (x-mu) - tr Lambda (Hyvärinen 2005, section 3)
    mu, precision = _random_gaussian(4, 0)
    x = _f32(_rng(1).standard_normal((3, 5, 4)))
    d = x - mu
    closed = 0.5 * jnp.einsum("...i,ij,...j->...", d, precision @ precision, d) - jnp.trace(
        precision
    )
    got = exact_objective(gaussian_energy, (mu, precision), x, hessian_chunk_size=chunk)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, closed, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        score(gaussian_energy, (mu, precision), x), -d @ precision, rtol=1e-5, atol=1e-5
    )
    loss = jax.jit(sm.score_matching_loss(gaussian_energy, "exact", hessian_chunk_size=chunk))
    np.testing.assert_allclose(loss((mu, precision), x), jnp.mean(closed), rtol=1e-5)


@functools.partial(jax.jit, static_argnums=0)
def _brute_force_objective(energy_fn, params, x):
    """1/2 |grad log p|^2 + trace of the full Hessian, by jax.hessian per example."""
    flat = x.reshape((-1, x.shape[-1]))
    scores = jax.grad(lambda y: -jnp.sum(energy_fn(params, y)))(flat)
    traces = jax.vmap(lambda y: jnp.trace(jax.hessian(lambda z: -energy_fn(params, z))(y)))(flat)
    return (0.5 * jnp.sum(jnp.square(scores), axis=-1) + traces).reshape(x.shape[:-1])


def _mlp_energy_and_params():
    return mlp.energy, mlp.init_params(jax.random.key(3), (5, 8, 8))


def _student_t_energy_and_params():
    params = poe.init_student_t_params(jax.random.key(4), 7, 5, alpha=1.5)
    return poe.student_t_energy, params


@pytest.mark.parametrize(
    ("model", "chunk"),
    [
        (_mlp_energy_and_params, None),
        (_mlp_energy_and_params, 2),
        (_student_t_energy_and_params, None),
    ],
)
def test_exact_loss_matches_the_full_hessian(model, chunk):
    energy_fn, params = model()
    x = _f32(1.5 * _rng(5).standard_normal((2, 6, 5)))
    got = exact_objective(energy_fn, params, x, hessian_chunk_size=chunk)
    np.testing.assert_allclose(
        got, _brute_force_objective(energy_fn, params, x), rtol=1e-4, atol=1e-5
    )


# The natural parameterisation E(x) = 1/2 x^T Lambda x - h^T x (mu = Lambda^{-1} h):
# the score -Lambda x + h is linear in (h, Lambda), so the exact and denoising losses are
# quadratic in them and one Newton step from anywhere lands on the exact minimiser.


def _natural_energy(dim):
    rows, cols = np.tril_indices(dim)

    def unpack(theta):
        lower = jnp.zeros((dim, dim), theta.dtype).at[rows, cols].set(theta[dim:])
        return theta[:dim], lower + lower.T - jnp.diag(jnp.diag(lower))

    def energy(theta, x):
        h, precision = unpack(theta)
        return 0.5 * jnp.einsum("...i,ij,...j->...", x, precision, x) - x @ h

    return energy, unpack, dim + len(rows)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _newton_minimiser(loss, n_params, x, key):
    theta = jnp.zeros((n_params,), jnp.float32)
    grad = jax.grad(loss)(theta, x, key)
    hessian = jax.hessian(loss)(theta, x, key)
    return theta - jnp.linalg.solve(hessian, grad)


def test_exact_loss_of_a_gaussian_is_minimised_by_the_sample_moments():
    # Minimising 1/2 tr(Lambda^2 S) - tr(Lambda) + ... gives Lambda = S^{-1}, mu = mean:
    # the score-matching estimator of a Gaussian is its maximum-likelihood estimator.
    dim, n = 3, 4000
    energy, unpack, n_params = _natural_energy(dim)
    true_mean = np.array([1.0, -2.0, 0.5])
    true_cov = np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 2.0]])
    data = _rng(6).multivariate_normal(true_mean, true_cov, n)
    x = _f32(data)
    loss = sm.score_matching_loss(energy, "exact")
    h, precision = unpack(_newton_minimiser(loss, n_params, x, None))
    mean = jnp.linalg.solve(precision, h)
    sample_cov = np.cov(data.T, bias=True)
    # deterministic: float32 round-off only
    np.testing.assert_allclose(precision, np.linalg.inv(sample_cov), rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(mean, data.mean(0), atol=2e-3)
    # statistical: within 5 standard errors of the truth (Wishart: var of a precision entry
    # is (L_ij^2 + L_ii L_jj) / n; mean: var S_ii / n); 12 normal checks at 5 sigma:
    # false-failure rate below 1e-5
    true_precision = np.linalg.inv(true_cov)
    se_precision = np.sqrt(
        (true_precision**2 + np.outer(np.diag(true_precision), np.diag(true_precision))) / n
    )
    assert np.all(np.abs(np.asarray(precision) - true_precision) < 5 * se_precision)
    assert np.all(np.abs(np.asarray(mean) - true_mean) < 5 * np.sqrt(np.diag(true_cov) / n))


def test_denoising_is_minimised_near_the_true_gaussian():
    # DSM with noise sigma is minimised by the score of the data smoothed with N(0, sigma^2):
    # for Gaussian data, Lambda_sigma = (S + sigma^2 I)^{-1} and mu = mean; at sigma = 0.1
    # that is within 0.015 of the true precision here.
    dim, n, sigma = 2, 1_000_000, 0.1
    energy, unpack, n_params = _natural_energy(dim)
    true_mean = np.array([1.0, -1.0])
    true_cov = np.array([[1.0, 0.4], [0.4, 1.2]])
    data = _rng(7).multivariate_normal(true_mean, true_cov, n)
    x, key = _f32(data), jax.random.key(0)
    loss = sm.score_matching_loss(energy, "denoising", noise_scale=sigma)
    h, precision = unpack(_newton_minimiser(loss, n_params, x, key))
    mean = np.linalg.solve(np.asarray(precision, np.float64), np.asarray(h, np.float64))

    # deterministic: the least-squares solution for these very noise draws, i.e.
    # 1/2 (Lambda C + C Lambda) = sym(M) with C the covariance of the noisy data and
    # M = mean (eps/sigma) (x_noisy - mean)^T (centred), a Sylvester equation
    noise = np.asarray(sigma * jax.random.normal(key, x.shape, x.dtype), np.float64)
    noisy = np.asarray(x, np.float64) + noise
    noisy_c, target_c = noisy - noisy.mean(0), noise / sigma**2 - (noise / sigma**2).mean(0)
    c = noisy_c.T @ noisy_c / n
    m = target_c.T @ noisy_c / n
    expected = linalg.solve_sylvester(c, c, m + m.T)
    np.testing.assert_allclose(precision, expected, rtol=2e-3, atol=2e-3)

    # statistical: the DSM estimate has standard error ~ 1/(sigma sqrt(n)) = 0.01 per entry
    # (0.012 at most, measured over 12 independent data/noise draws of this design);
    # tolerance 6 standard errors (0.075) plus the smoothing bias: false-failure rate < 1e-6
    smoothed = np.linalg.inv(true_cov + sigma**2 * np.eye(dim))
    bias = np.abs(smoothed - np.linalg.inv(true_cov))
    assert np.all(bias < 0.02)
    assert np.all(np.abs(np.asarray(precision) - smoothed) < 0.075)
    assert np.all(np.abs(np.asarray(precision) - np.linalg.inv(true_cov)) < 0.075 + bias)
    assert np.all(np.abs(mean - true_mean) < 0.1)  # standard error 0.016 at most


# --------------------------------------------------------------------------------------
# Swersky et al. (2011): score matching for RBMs is a regularised autoencoder
# --------------------------------------------------------------------------------------


def _gaussian_rbm_params(seed, dim=6, hidden=4, unit_variance=True):
    rng = _rng(seed)
    log_sigma = np.zeros(dim) if unit_variance else 0.4 * rng.standard_normal(dim)
    return gaussian_rbm.GaussianRBMParams(
        W=_f32(0.7 * rng.standard_normal((dim, hidden))),
        b=_f32(rng.standard_normal(dim)),
        c=_f32(rng.standard_normal(hidden)),
        log_sigma=_f32(log_sigma),
    )


def _gaussian_rbm_closed_form(params, v):
    """Derived by hand from F(v) = sum_i (v_i-b_i)^2/(2 s_i^2) - sum_j softplus(c_j + (v/s)^T W_j).

    With h = sigmoid(c + (v/s)^T W) and the reconstruction v_hat = b + s * (W h):
      d log p / dv_i      = -(v_i - v_hat_i) / s_i^2
      d2 log p / dv_i^2   = (-1 + sum_j W_ij^2 h_j (1 - h_j)) / s_i^2
    so J = sum_i (v_i - v_hat_i)^2 / (2 s_i^4) + sum_i (-1 + sum_j W_ij^2 h_j(1-h_j)) / s_i^2.
    With unit variances: 1/2 |v - b - W h|^2 + sum_ij W_ij^2 h_j (1 - h_j) - D.
    """
    s2 = jnp.exp(2 * params.log_sigma)
    h = gaussian_rbm.hidden_probs(params, v)
    v_hat = gaussian_rbm.visible_mean(params, h)
    reconstruction = 0.5 * jnp.sum(jnp.square(v - v_hat) / s2**2, axis=-1)
    curvature = jnp.sum((-1 + (h * (1 - h)) @ jnp.square(params.W).T) / s2, axis=-1)
    return reconstruction + curvature


@pytest.mark.parametrize("unit_variance", [True, False])
def test_gaussian_rbm_is_a_regularised_autoencoder(unit_variance):
    params = _gaussian_rbm_params(8, unit_variance=unit_variance)
    v = _f32(_rng(9).standard_normal((20, 6)) + np.asarray(params.b))
    got = exact_objective(gaussian_rbm.free_energy, params, v)
    np.testing.assert_allclose(got, _gaussian_rbm_closed_form(params, v), rtol=1e-4, atol=1e-4)
    if unit_variance:  # Swersky et al.'s form, spelt out
        h = gaussian_rbm.hidden_probs(params, v)
        swersky = (
            0.5 * jnp.sum(jnp.square(v - params.b - h @ params.W.T), axis=-1)
            + jnp.sum((h * (1 - h)) @ jnp.square(params.W).T, axis=-1)
            - 6
        )
        np.testing.assert_allclose(got, swersky, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("unit_variance", [True, False])
def test_gaussian_rbm_matches_the_latent_ebm_theorem(unit_variance):
    # Swersky et al., theorem: J = sum_i 1/2 E[dE/dv_i]^2 + Var[dE/dv_i] - E[d2E/dv_i^2] with
    # expectations under p(h | v), evaluated here by enumerating all 2^K hidden states and
    # differentiating the *joint* energy: an independent route to the same number.
    params = _gaussian_rbm_params(10, hidden=3, unit_variance=unit_variance)
    v = _f32(_rng(11).standard_normal((7, 6)))
    states = exact.binary_states(3)

    def theorem(v_row):
        energies = jax.vmap(lambda h: gaussian_rbm.joint_energy(params, v_row, h))(states)
        weights = jax.nn.softmax(-energies)
        grads = jax.vmap(jax.grad(lambda v_, h: gaussian_rbm.joint_energy(params, v_, h)))(
            jnp.broadcast_to(v_row, (8, 6)), states
        )
        curvature = jax.vmap(
            lambda h: jnp.diag(
                jax.hessian(lambda v_: gaussian_rbm.joint_energy(params, v_, h))(v_row)
            )
        )(states)
        mean_grad = weights @ grads
        var_grad = weights @ jnp.square(grads - mean_grad)
        return jnp.sum(0.5 * jnp.square(mean_grad) + var_grad - weights @ curvature)

    np.testing.assert_allclose(
        exact_objective(gaussian_rbm.free_energy, params, v),
        jax.jit(jax.vmap(theorem))(v),
        rtol=1e-4,
        atol=1e-4,
    )


# RBM with Gaussian visible *and* hidden units (Swersky et al., "RBM with all Gaussian units"):
#   E(v, h) = 1/2 |v - b|^2 + 1/2 |h - c|^2 - v^T W h.
# Completing the square in h: -log int exp(-E) dh = 1/2 |v-b|^2 - 1/2 |c + W^T v|^2 + const,
# so grad log p = -(v - r(v)) with the linear tied-weight reconstruction r(v) = b + W(c + W^T v)
# and Hessian of log p = -(I - W W^T):
#   J = 1/2 |v - b - W (c + W^T v)|^2 + sum_ij W_ij^2 - D,
# a linear autoencoder with weight decay (normalisable when the singular values of W are < 1).


def _gaussian_gaussian_params(seed, dim=5, hidden=3):
    rng = _rng(seed)
    w = rng.standard_normal((dim, hidden))
    w *= 0.8 / np.linalg.norm(w, 2)  # largest singular value 0.8: I - W W^T positive definite
    return _f32(w), _f32(rng.standard_normal(dim)), _f32(rng.standard_normal(hidden))


def gaussian_gaussian_free_energy(params, v):
    W, b, c = params
    return 0.5 * jnp.sum(jnp.square(v - b), axis=-1) - 0.5 * jnp.sum(jnp.square(c + v @ W), axis=-1)


def _linear_reconstruction(params, v):
    W, b, c = params
    return b + (c + v @ W) @ W.T


def test_gaussian_gaussian_free_energy_by_quadrature():
    # one hidden unit: -log int exp(-E(v, h)) dh by quadrature, up to the same constant
    params = _gaussian_gaussian_params(12, dim=2, hidden=1)
    W, b, c = (np.asarray(p, np.float64) for p in params)
    points = _rng(13).standard_normal((4, 2))

    def by_quadrature(v):
        def integrand(h):
            e = 0.5 * np.sum((v - b) ** 2) + 0.5 * (h - c[0]) ** 2 - h * (v @ W[:, 0])
            return math.exp(-e)

        return -math.log(integrate.quad(integrand, -np.inf, np.inf, epsabs=0, epsrel=1e-12)[0])

    numeric = np.array([by_quadrature(v) for v in points])
    closed = np.asarray(gaussian_gaussian_free_energy(params, _f32(points)), np.float64)
    np.testing.assert_allclose(numeric - numeric[0], closed - closed[0], atol=1e-5)


def test_gaussian_hidden_rbm_is_a_linear_autoencoder_with_weight_decay():
    params = _gaussian_gaussian_params(14)
    W = params[0]
    v = _f32(_rng(15).standard_normal((10, 5)))
    closed = (
        0.5 * jnp.sum(jnp.square(v - _linear_reconstruction(params, v)), axis=-1)
        + jnp.sum(jnp.square(W))
        - 5
    )
    got = exact_objective(gaussian_gaussian_free_energy, params, v)
    np.testing.assert_allclose(got, closed, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sigma", [1.0, 0.5])
def test_denoising_gaussian_hidden_rbm_is_a_denoising_autoencoder(sigma):
    # Vincent (2011): with energy F(v) / sigma^2 the DSM loss is the denoising autoencoder's
    # 1/2 |r(v_noisy) - v|^2 / sigma^4 (the weight decay is gone: the noise regularises);
    # sigma = 1 is Swersky et al.'s slide. The noise is sigma * normal(key, v.shape, v.dtype).
    params = _gaussian_gaussian_params(16)
    v = _f32(_rng(17).standard_normal((10, 5)))
    key = jax.random.key(18)

    def energy(p, x):
        return gaussian_gaussian_free_energy(p, x) / sigma**2

    noisy = v + sigma * jax.random.normal(key, v.shape, v.dtype)
    dae = 0.5 * jnp.sum(jnp.square(_linear_reconstruction(params, noisy) - v), axis=-1) / sigma**4
    got = denoising_objective(key, energy, params, v, noise_scale=sigma)
    np.testing.assert_allclose(got, dae, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# Hutchinson and sliced estimators are unbiased
# --------------------------------------------------------------------------------------

ESTIMATORS = [
    ("hutchinson", {"probe": "rademacher"}),
    ("hutchinson", {"probe": "gaussian"}),
    ("sliced", {"probe": "gaussian"}),
    ("sliced", {"probe": "gaussian", "variance_reduction": True}),
]


@pytest.mark.parametrize(("method", "options"), ESTIMATORS)
def test_stochastic_estimators_are_unbiased(method, options):
    # R = 2000 independent two-probe estimates of J(x) for each of 4 examples (every row of
    # a batch gets its own probes); their mean must be within 5 standard errors of the exact
    # J (z-test, the standard error estimated from the same draws; 4 checks per case at
    # 5 sigma under the CLT: false-failure rate below 3e-6 per case).
    energy_fn, params = _student_t_energy_and_params()
    x = _f32(1.5 * _rng(19).standard_normal((4, 5)))
    exact_j = np.asarray(exact_objective(energy_fn, params, x), np.float64)
    repeats = 2000
    tiled = jnp.broadcast_to(x, (repeats, 4, 5))
    objective = hutchinson_objective if method == "hutchinson" else sliced_objective
    draws = np.asarray(
        objective(jax.random.key(20), energy_fn, params, tiled, n_probes=2, **options), np.float64
    )
    assert draws.shape == (repeats, 4)
    standard_error = draws.std(0, ddof=1) / math.sqrt(repeats)
    assert np.all(standard_error > 0)
    tolerance = 5 * standard_error + 1e-4 * np.abs(exact_j)  # plus float32 round-off
    assert np.all(np.abs(draws.mean(0) - exact_j) < tolerance), (draws.mean(0), exact_j)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("hutchinson", {"probe": "rademacher"}),
        ("sliced", {"probe": "rademacher"}),
        ("denoising", {"noise_scale": 0.3}),
    ],
)
def test_loss_is_the_batch_mean_of_the_objective(method, options):
    params = _random_gaussian(3, 35)
    x = _f32(_rng(36).standard_normal((2, 5, 3)))
    key = jax.random.key(22)
    loss = jax.jit(sm.score_matching_loss(gaussian_energy, method, **options))
    if method == "denoising":
        per_example = denoising_objective(key, gaussian_energy, params, x, **options)
    else:
        objective = hutchinson_objective if method == "hutchinson" else sliced_objective
        per_example = objective(key, gaussian_energy, params, x, n_probes=1, **options)
    assert per_example.shape == (2, 5)
    np.testing.assert_allclose(loss(params, x, key), jnp.mean(per_example), rtol=1e-6)


def test_rademacher_hutchinson_is_exact_for_a_diagonal_hessian():
    # a separable energy has a diagonal Hessian and v_i^2 = 1 for Rademacher probes, so
    # v^T H v = tr H for every draw
    params = poe.StudentTParams(W=jnp.eye(4), log_alpha=_f32([0.0, 0.5, -0.5, 1.0]))
    x = _f32(2 * _rng(23).standard_normal((6, 4)))
    exact_j = exact_objective(poe.student_t_energy, params, x)
    got = hutchinson_objective(jax.random.key(24), poe.student_t_energy, params, x)
    np.testing.assert_allclose(got, exact_j, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------
# The learning rule
# --------------------------------------------------------------------------------------

METHODS = [
    ("exact", {}),
    ("hutchinson", {"n_probes": 2}),
    ("sliced", {"n_probes": 2}),
    ("denoising", {"noise_scale": 0.1}),
]


@pytest.mark.parametrize(("method", "options"), METHODS)
def test_rule_step_is_the_gradient_of_the_loss(method, options):
    energy_fn, params = mlp.energy, mlp.init_params(jax.random.key(3), (5, 8))
    batch = _f32(_rng(25).standard_normal((16, 5)))
    key = jax.random.key(26)
    rule = sm.score_matching(energy_fn, method, **options)
    loss = sm.score_matching_loss(energy_fn, method, **options)
    state = rule.init(jax.random.key(0), params, batch)

    @jax.jit  # one compilation for both
    def step_and_reference(key, state, params, batch):
        return rule.step(key, state, params, batch), jax.value_and_grad(loss)(params, batch, key)

    (grads, new_state, info), (value, expected) = step_and_reference(key, state, params, batch)
    assert new_state == state
    for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(info.loss, value, rtol=1e-5)
    np.testing.assert_allclose(info.positive_energy, jnp.mean(energy_fn(params, batch)), rtol=1e-5)
    assert float(info.negative_energy) == 0.0 and info.sampler_info is None
    (again, _, _), _ = step_and_reference(
        key, state, params, batch
    )  # pure: the key fixes the probes
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    if method != "exact":  # another key, other probes or noise
        (other, _, _), _ = step_and_reference(jax.random.key(27), state, params, batch)
        assert not all(
            np.allclose(a, b)
            for a, b in zip(jax.tree.leaves(other), jax.tree.leaves(grads), strict=True)
        )


def diagonal_gaussian_energy(params, x):
    mean, log_precision = params
    return 0.5 * jnp.sum(jnp.exp(log_precision) * jnp.square(x - mean), axis=-1)


@pytest.mark.standard_promotion  # optax.adam
@pytest.mark.parametrize(
    ("method", "options", "tolerance"),
    [  # hutchinson is sliced-VR with Rademacher probes (and exact here: the Hessian is diagonal)
        ("exact", {}, 0.01),
        ("sliced", {"n_probes": 2}, 0.02),
        ("denoising", {"noise_scale": 0.1}, 0.15),
    ],
)
def test_fit_lowers_the_loss_to_its_closed_form_minimum(method, options, tolerance):
    # For a diagonal Gaussian energy the exact score-matching loss on data with sample
    # variances S_ii is minimised at mean = sample mean, precision = 1/S_ii, where it
    # equals -1/2 sum_i 1/S_ii. Every method's training run (Adam, cosine-decayed step
    # size) must bring the exact loss from 4.6 above that minimum to within `tolerance`.
    # Over 8 independent data sets and keys the largest remaining gaps were 0.0002 (exact),
    # 0.0024 (sliced) and 0.037 (denoising: noisy gradients, plus an O(sigma^2) bias of
    # 0.003); the tolerances are 4x or more above those, false-failure rate negligible.
    data = _f32(np.array([1.0, -2.0]) + np.array([0.5, 2.0]) * _rng(28).standard_normal((2000, 2)))
    exact_loss = jax.jit(sm.score_matching_loss(diagonal_gaussian_energy, "exact"))
    params = (jnp.zeros(2), jnp.zeros(2))
    epochs, batch_size = 15, 100
    steps = epochs * (data.shape[0] // batch_size)
    result = fit(
        jax.random.key(29),
        params,
        data,
        sm.score_matching(diagonal_gaussian_energy, method, **options),
        optax.adam(optax.cosine_decay_schedule(0.1, steps, alpha=0.01)),
        epochs=epochs,
        batch_size=batch_size,
        energy_fn=diagonal_gaussian_energy,
        metrics={"exact_loss": lambda p, train, held_out: exact_loss(p, train)},
        progress=False,
    )
    minimum = -0.5 * float(jnp.sum(1 / jnp.var(data, axis=0)))
    before = float(exact_loss(params, data))
    history = result.history["exact_loss"]
    assert before > minimum + 4.0
    assert history[-1] < history[0] < before
    assert minimum - 1e-4 <= history[-1] < minimum + tolerance, (history[-1], minimum)
    assert np.all(np.isfinite(result.history["positive_energy"]))


# --------------------------------------------------------------------------------------
# dtypes and errors
# --------------------------------------------------------------------------------------


def test_float64_stays_float64():
    with jax.enable_x64(True):
        mu, precision = (a.astype(jnp.float64) for a in _random_gaussian(3, 30))
        x = jnp.asarray(_rng(31).standard_normal((4, 3)), jnp.float64)
        losses = [sm.score_matching_loss(gaussian_energy, m, **o) for m, o in METHODS]
        values = jax.jit(lambda p, x, k: [loss(p, x, k) for loss in losses])(
            (mu, precision), x, jax.random.key(32)
        )
        assert [v.dtype for v in values] == [jnp.float64] * len(METHODS)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "ratio"}, ValueError, "unknown score-matching method"),
        ({"method": "denoising"}, ValueError, "needs noise_scale"),
        ({"method": "denoising", "noise_scale": 0.0}, ValueError, "must be positive"),
        ({"method": "exact", "noise_scale": 0.1}, ValueError, "do not apply"),
        ({"method": "hutchinson", "variance_reduction": True}, ValueError, "do not apply"),
        ({"method": "sliced", "probe": "uniform"}, ValueError, "unknown probe"),
        ({"method": "sliced", "n_probes": 0}, ValueError, "positive integer"),
        ({"method": "hutchinson", "n_probes": 1.5}, TypeError, "positive integer"),
        ({"method": "exact", "hessian_chunk_size": 0}, ValueError, "positive integer"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        sm.score_matching_loss(gaussian_energy, **kwargs)
    with pytest.raises(error, match=match):
        sm.score_matching(gaussian_energy, **kwargs)


def test_bad_inputs_are_refused():
    params = _random_gaussian(3, 33)
    x = _f32(_rng(34).standard_normal((4, 3)))
    with pytest.raises(ValueError, match="pass rng_key"):
        sm.score_matching_loss(gaussian_energy, "sliced")(params, x)
    with pytest.raises(TypeError, match="floating-point"):
        sm.score_matching_loss(gaussian_energy)(params, jnp.ones((4, 3), jnp.int32))
    with pytest.raises(ValueError, match="non-finite"):
        sm.exact_objective(gaussian_energy, params, x.at[1, 2].set(jnp.nan))
    with pytest.raises(ValueError, match="one energy per example"):
        sm.exact_objective(lambda p, y: 0.5 * jnp.square(y), params, x)
