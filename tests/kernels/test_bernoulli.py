"""Tests of ``numpyro_ebm.kernels._bernoulli``: the Bernoulli draws of every Gibbs sweep.

What is checked, and how:

- the random bits are exactly JAX's Threefry-2x32-20 stream (so their quality is
  JAX's, not a new generator's);
- the decision rule is exact: for each logit, the draw is 1 for exactly the
  integers ``B`` below a threshold that is within the documented bound of
  ``q 2^w`` (a deterministic check, no sampling);
- frequencies over 10^6 draws match ``sigmoid(logits)`` for ``p`` from 1e-4 to
  1 - 1e-4 (exact binomial tests);
- neighbouring positions and split keys are uncorrelated;
- vmap over keys equals a loop, dtype and shape are kept, infinite logits are exact.

Every statistical test uses a fixed key and states its false-failure rate.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from numpyro_ebm.kernels import _bernoulli
from numpyro_ebm.kernels._bernoulli import bernoulli_from_logits

SHAPES = [(), (1,), (7,), (3, 5, 7), (2, 0, 3)]


def test_bits_are_jax_threefry():
    """Both words of every block equal ``jax.random.bits(key, shape, uint64)``.

    (Hence their XOR is ``jax.random.bits(key, shape, uint32)``, JAX's default bits.)
    """
    key = jax.random.key(11)
    with jax.enable_x64(True):
        word0, word1 = _bernoulli._threefry_words(key, (3, 5, 7))
        both = (word0.astype(jnp.uint64) << 32) | word1.astype(jnp.uint64)
        np.testing.assert_array_equal(both, jax.random.bits(key, (3, 5, 7), jnp.uint64))


def _threshold_search(draw, n_bits, size):
    """Smallest ``B`` in ``[0, 2^n_bits]`` with ``draw(B) == False``, per position (bisection).

    ``draw(B)`` maps an integer array of shape ``(size,)`` to booleans; it must be
    non-increasing in ``B`` for the result to mean anything (checked by the caller).
    """
    lo = np.zeros(size, dtype=object)
    hi = np.full(size, 2**n_bits, dtype=object)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        below = draw(mid)
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    # lo is the largest B tested True (or 0 untested); settle the B = 0 case
    first = draw(np.zeros(size, dtype=object))
    return np.where(first, hi, 0)


def _words_float32(b):
    word0 = np.array([int(x) << 1 for x in b], dtype=np.uint32)
    return jnp.asarray(word0), jnp.zeros(word0.shape, jnp.uint32)


def _words_float64(b):
    word0 = np.array([int(x) >> 32 for x in b], dtype=np.uint32)
    word1 = np.array([int(x) & 0xFFFFFFFF for x in b], dtype=np.uint32)
    return jnp.asarray(word0), jnp.asarray(word1)


@pytest.mark.parametrize(
    "dtype_name, n_bits, mantissa_bits, make_words",
    [("float32", 31, 24, _words_float32), ("float64", 64, 53, _words_float64)],
)
def test_decision_rule_is_exact(dtype_name, n_bits, mantissa_bits, make_words):
    """The draw is 1 exactly for ``B < B*`` with ``|B* - q 2^w| <= max(1, ulp(q 2^w) / 2)``.

    Deterministic: the threshold ``B*`` is found by bisection over the random
    integer, then monotonicity is checked at random integers.
    """
    with jax.enable_x64(dtype_name == "float64"):
        dtype = jnp.dtype(dtype_name)
        # logits <= 0 (x = [B < B*]), spanning q from 1/2 down to ~1e-30
        logits = -jnp.concatenate(
            [
                jnp.array([0.0, 1e-6, 0.1, 1.0, 4.9, 5.0, 9.21, 15.0, 21.0, 22.0, 40.0, 69.0]),
                jnp.linspace(0.0, 30.0, 89),
            ]
        ).astype(dtype)
        size = logits.shape[0]

        decide = jax.jit(_bernoulli._draw)

        def draw(b):
            word0, word1 = make_words(b)
            return np.asarray(decide(word0, word1, logits))

        threshold = _threshold_search(draw, n_bits, size)
        q = np.asarray(_bernoulli._mirrored_probability(logits)).astype(np.float64)
        scaled = [
            np.longdouble(float(x)) * np.longdouble(2.0) ** n_bits for x in q
        ]  # exact: power-of-two scaling of a float32/float64
        ulp = np.spacing(np.asarray(q, dtype=dtype)).astype(np.float64) * 2.0**n_bits
        for i in range(size):
            error = abs(np.longdouble(int(threshold[i])) - scaled[i])
            assert error <= max(1.0, ulp[i] / 2), (float(logits[i]), int(threshold[i]), error)
            if q[i] * 2.0**n_bits <= 2.0**mantissa_bits:  # exact integers: P = ceil(q 2^w) / 2^w
                assert int(threshold[i]) == int(np.ceil(scaled[i]))
        # monotone: at random integers the draw is [B < B*]
        rng = np.random.default_rng(0)
        for _ in range(4):
            b = np.array([int(x) for x in rng.integers(0, 2**62, size)], dtype=object) >> (
                62 - n_bits if n_bits < 62 else 0
            )
            if n_bits > 62:
                b = b * 4 + np.array([int(x) for x in rng.integers(0, 4, size)], dtype=object)
            np.testing.assert_array_equal(draw(b), b < threshold)
            near = np.maximum(threshold + rng.integers(-3, 4, size).astype(object), 0)
            np.testing.assert_array_equal(draw(near), near < threshold)


def test_mirrored_probability_accuracy():
    """q = 1 / (1 + exp(|l|)) in float32 is within 4 ulp of min(p, 1 - p) (documented size)."""
    logits = jnp.linspace(-87.0, 87.0, 200_001, dtype=jnp.float32)
    q = np.asarray(_bernoulli._mirrored_probability(logits)).astype(np.float64)
    exact = 1.0 / (1.0 + np.exp(np.abs(np.asarray(logits, dtype=np.float64))))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(q - exact) / ulp) <= 4.0


def test_frequencies_match_sigmoid():
    """Exact binomial test per p over 10^6 draws; Bonferroni-corrected alpha = 1e-4 in total
    (false-failure rate at most 0.01%)."""
    p = np.array([1e-4, 1e-3, 0.02, 0.3, 0.5, 0.7, 0.98, 1 - 1e-3, 1 - 1e-4])
    n = 1_000_000
    logits = jnp.asarray(np.log(p) - np.log1p(-p), dtype=jnp.float32)
    draws = bernoulli_from_logits(
        jax.random.key(2024), jnp.broadcast_to(logits[:, None], (p.size, n))
    )
    counts = np.asarray(draws.sum(axis=1), dtype=np.int64)
    target = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    for k, prob in zip(counts, target, strict=True):
        pvalue = stats.binomtest(int(k), n, prob).pvalue
        assert pvalue > 1e-4 / p.size, (prob, k / n, pvalue)


def test_frequencies_float64():
    """float64: exact binomial tests at p = 0.25 and 1e-3, 10^6 draws each; alpha = 1e-4 in
    total (false-failure rate at most 0.01%)."""
    with jax.enable_x64(True):
        p = np.array([0.25, 1e-3])
        logits = jnp.asarray(np.log(p) - np.log1p(-p), dtype=jnp.float64)
        draws = bernoulli_from_logits(
            jax.random.key(7), jnp.broadcast_to(logits[:, None], (2, 10**6))
        )
        assert draws.dtype == jnp.float64
        for k, prob in zip(np.asarray(draws.sum(axis=1)), p, strict=True):
            assert stats.binomtest(int(k), 10**6, prob).pvalue > 0.5e-4


def _correlation_z(a, b):
    """``sqrt(n) * corr(a, b)``: approximately N(0, 1) for independent draws."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return np.sqrt(a.size) * np.corrcoef(a, b)[0, 1]


def test_independence_of_positions_and_keys():
    """Correlations of neighbours (along each axis) and of split keys are within noise.

    Four z-scores, each approximately N(0, 1) under independence, tested at |z| < 4.5:
    false-failure rate 4 * 6.8e-6 < 3e-5.
    """
    logits = jnp.full((1000, 1000), np.log(0.3 / 0.7), jnp.float32)  # p = 0.3
    key_a, key_b = jax.random.split(jax.random.key(99))
    x = np.asarray(bernoulli_from_logits(key_a, logits))
    y = np.asarray(bernoulli_from_logits(key_b, logits))
    z_scores = {
        "next position": _correlation_z(x[:, :-1], x[:, 1:]),
        "next row": _correlation_z(x[:-1, :], x[1:, :]),
        "split keys": _correlation_z(x, y),
        "flat lag 2^10": _correlation_z(x.ravel()[:-1024], x.ravel()[1024:]),
    }
    assert abs(x.mean() - 0.3) < 4.5 * np.sqrt(0.21 / x.size)
    for name, z in z_scores.items():
        assert abs(z) < 4.5, (name, z)


def test_same_key_same_draws_and_keys_differ():
    logits = jnp.linspace(-3.0, 3.0, 1001, dtype=jnp.float32)
    a = bernoulli_from_logits(jax.random.key(5), logits)
    b = jax.jit(bernoulli_from_logits)(jax.random.key(5), logits)
    c = bernoulli_from_logits(jax.random.key(6), logits)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_legacy_and_typed_keys_agree():
    logits = jnp.zeros((4, 9), jnp.float32)
    np.testing.assert_array_equal(
        bernoulli_from_logits(jax.random.PRNGKey(3), logits),
        bernoulli_from_logits(jax.random.key(3), logits),
    )


def test_other_key_implementation():
    """Non-threefry keys go through their own generator first; p = 0.5, 10^5 draws,
    |z| < 4.5 (false-failure rate 6.8e-6)."""
    x = bernoulli_from_logits(jax.random.key(0, impl="rbg"), jnp.zeros((100_000,), jnp.float32))
    assert abs(float(x.mean()) - 0.5) < 4.5 * np.sqrt(0.25 / x.size)


def test_vmap_over_keys_equals_loop():
    keys = jax.random.split(jax.random.key(8), 5)
    logits = jnp.asarray(np.random.default_rng(9).normal(size=(5, 3, 7)), jnp.float32)
    batched = jax.vmap(bernoulli_from_logits)(keys, logits)
    looped = jnp.stack([bernoulli_from_logits(k, l) for k, l in zip(keys, logits, strict=True)])
    np.testing.assert_array_equal(batched, looped)
    shared = jax.jit(jax.vmap(bernoulli_from_logits, in_axes=(0, None)))(keys, logits[0])
    np.testing.assert_array_equal(shared[2], bernoulli_from_logits(keys[2], logits[0]))
    assert not all(np.array_equal(shared[0], shared[i]) for i in range(1, 5))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes(shape):
    logits = jnp.full(shape, 0.3, jnp.float32)
    x = bernoulli_from_logits(jax.random.key(1), logits)
    assert x.shape == shape
    assert np.all((np.asarray(x) == 0) | (np.asarray(x) == 1))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16])
def test_dtype_kept(dtype):
    logits = jnp.linspace(-2, 2, 11).astype(dtype)
    assert bernoulli_from_logits(jax.random.key(0), logits).dtype == dtype
    assert bernoulli_from_logits(jax.random.key(0), logits, jnp.float32).dtype == jnp.float32


def test_float64_kept():
    with jax.enable_x64(True):
        logits = jnp.linspace(-2, 2, 11, dtype=jnp.float64)
        assert bernoulli_from_logits(jax.random.key(0), logits).dtype == jnp.float64
        x32 = bernoulli_from_logits(jax.random.key(0), logits, jnp.float32)
        assert x32.dtype == jnp.float32


@pytest.mark.parametrize("dtype_name, big", [("float32", 100.0), ("float64", 800.0)])
def test_extreme_logits_are_exact(dtype_name, big):
    with jax.enable_x64(dtype_name == "float64"):
        values = jnp.array([-jnp.inf, -big, big, jnp.inf], dtype=dtype_name)
        logits = jnp.broadcast_to(values[:, None], (4, 50_000))
        for seed in range(3):
            x = np.asarray(bernoulli_from_logits(jax.random.key(seed), logits))
            np.testing.assert_array_equal(x[:2], 0)
            np.testing.assert_array_equal(x[2:], 1)


def test_nan_logits_give_zero():
    x = bernoulli_from_logits(jax.random.key(0), jnp.full((1000,), jnp.nan, jnp.float32))
    np.testing.assert_array_equal(x, 0)


def test_errors():
    with pytest.raises(TypeError, match="floating-point"):
        bernoulli_from_logits(jax.random.key(0), jnp.zeros((3,), jnp.int32))
    with pytest.raises(ValueError, match="single PRNG key"):
        bernoulli_from_logits(jax.random.split(jax.random.key(0), 2), jnp.zeros((3,), jnp.float32))


def test_draws_from_given_words_equal_draws_from_the_key():
    """``bernoulli_from_words(threefry_words(key, shape), logits)`` is
    ``bernoulli_from_logits(key, logits)`` bit for bit (float32, float64, float16)."""
    key = jax.random.key(12)
    for dtype in (jnp.float32, jnp.float16):
        logits = jax.random.normal(jax.random.key(13), (4, 33), dtype) * 3
        words = _bernoulli.threefry_words(key, logits.shape)
        np.testing.assert_array_equal(
            _bernoulli.bernoulli_from_words(words, logits), bernoulli_from_logits(key, logits)
        )
    with pytest.raises(ValueError, match=r"words must have the shape of logits \(4, 33\)"):
        _bernoulli.bernoulli_from_words(_bernoulli.threefry_words(key, (4,)), logits)
