r"""Bernoulli draws from logits, the inner loop of every Gibbs sweep.

Kept in one place so that the way random bits are made can be engineered
(bits per draw are a large share of a sweep's cost on CPU) without touching
the kernels.

How the bits are made
---------------------
The draw at flat (row-major) position ``i`` of ``logits`` uses one block of
**Threefry-2x32-20** (Salmon et al., 2011) with the 64-bit key of ``rng_key``
and the counter ``(0, i)``: the same block function, key, counter layout and
number of rounds as JAX's default ``threefry2x32`` generator, so the block's
two words are exactly ``jax.random.bits(rng_key, logits.shape, jnp.uint64)``
(with ``jax_threefry_partitionable=True``, the default). Different keys, and
different positions under one key, get different counter-key pairs, so the
draws are as independent as JAX's own random numbers.

Nothing about the generator is weakened; what changes is how it is computed.
The 20 rounds are written out as ``jax.numpy`` integer operations, so XLA fuses
them with the sigmoid and the comparison into one vectorised loop over the
draws, where JAX's own CPU lowering of threefry is a rolled ``while`` loop
whose iterations each write two arrays to memory, and no float uniform is
built. :func:`threefry_words` gives the two words of every position's block and
:func:`bernoulli_from_words` draws from them, for a kernel that redraws each
position once but in several stages (checkerboard Gibbs: one block per site per
sweep, used in the site's half). A block is spent on each draw even though one
draw needs fewer than 64 bits: sharing a block between draws at different
positions makes XLA:CPU recompute the block for each of them (a loop fusion
computes every output element on its own; there is no multi-output loop fusion
and optimisation barriers are dropped by jaxlib 0.10), which measured slower.

Why the draws are exact enough
------------------------------
Let :math:`\hat q = \mathrm{fl}(1 / (1 + e^{|\ell|}))`, computed in the working
precision (float32; float64 for float64 logits; float16 and bfloat16 logits
are computed in float32), an approximation of :math:`\min(p, 1 - p)` with
:math:`p = \sigma(\ell)`. Take a uniform integer :math:`B` of :math:`w` bits
from the block (float32: the top 31 bits of the first word, :math:`w = 31`;
float64: both words, :math:`w = 64`), and draw

.. math::

    x = [\mathrm{fl}(B) < \hat q\, 2^{w}] \;\mathrm{xor}\; [\ell > 0],

where :math:`\hat q 2^w` is exact (power-of-two scaling) and
:math:`\mathrm{fl}(B)` is ``B`` rounded to the working precision, a monotone
map. Then :math:`P(x = 1)` is :math:`\hat q` (for :math:`\ell \le 0`) or
:math:`1 - \hat q` (for :math:`\ell > 0`) up to

.. math::

    \max\bigl(2^{-w},\ \tfrac12 \mathrm{ulp}(\hat q)\bigr)
    \le \max(2^{-31},\ 2^{-24} \hat q) \quad \text{(float32)},

(:math:`\max(2^{-64}, 2^{-53} \hat q)` in float64): below
:math:`\hat q = 2^{m - w}` (:math:`m` = 24 or 53 significand bits) every
integer is exact and :math:`P = \lceil \hat q 2^w \rceil / 2^w`; above it the
threshold moves by at most half a unit in the last place of
:math:`\hat q 2^w`. So the draw is as accurate as the floating-point
probability itself, whose own rounding (``exp``, add, divide) is at most 2.5
units in the last place of :math:`\min(p, 1 - p)` (measured: 2.48 ulp in
float32 over :math:`|\ell| \le 87`, 2.34 ulp in float64 over
:math:`|\ell| \le 700`); mirroring makes probabilities near 1 as accurate as
those near 0. For comparison,
``jax.random.uniform(key) < sigmoid(logits)`` in float32 quantises :math:`p`
to multiples of :math:`2^{-23}`, and 16-bit uniforms to :math:`2^{-16}`.

When :math:`\hat q = 0` the draw is exactly 0 or 1: ``logits = ±inf``, and
:math:`|\ell| > 88.8` in float32 (:math:`> 709.8` in float64). NaN logits give 0.

References
----------
Salmon, J. K., Moraes, M. A., Dror, R. O., & Shaw, D. E. (2011). Parallel
random numbers: as easy as 1, 2, 3. *Proceedings of SC11*.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray, UInt32

__all__ = ["bernoulli_from_logits", "bernoulli_from_words", "threefry_words"]

# Threefry-2x32 rotation constants (Random123's R_32x2_*), 8-round cycle.
_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_KS_PARITY = np.uint32(0x1BD11BDA)
_THREEFRY_ROUNDS = 20


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds, unrolled (Random123 ``threefry2x32_R(20, ...)``)."""
    ks = (k0, k1, k0 ^ k1 ^ _KS_PARITY)
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for r in range(_THREEFRY_ROUNDS):
        x0 = x0 + x1
        x1 = _rotl(x1, _ROTATIONS[r % 8]) ^ x0
        if r % 4 == 3:  # key injection every 4 rounds
            s = r // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + np.uint32(s)
    return x0, x1


def _single_key(rng_key):
    """``rng_key`` as a typed key of shape ``()`` (legacy ``uint32`` keys are wrapped)."""
    if not jnp.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        rng_key = jax.random.wrap_key_data(rng_key)
    if rng_key.shape != ():
        raise ValueError(
            "bernoulli_from_logits needs a single PRNG key; got a key array of shape "
            f"{rng_key.shape}. Use jax.vmap over keys (and logits) for batches."
        )
    return rng_key


def _key_words(rng_key) -> tuple[UInt32[Array, ""], UInt32[Array, ""]]:
    """The 64-bit Threefry key of a typed key as two uint32 scalars.

    Threefry keys (JAX's default) are used as they are. Keys of other
    implementations are first turned into 64 bits with their own generator
    (``jax.random.bits(rng_key, (2,))``).
    """
    if str(jax.random.key_impl(rng_key)) == "threefry2x32":
        words = jax.random.key_data(rng_key)
    else:
        words = jax.random.bits(rng_key, (2,), jnp.uint32)
    return words[0], words[1]


def _counter(shape: tuple[int, ...]) -> UInt32[Array, "..."]:
    """Row-major flat index of every position, as uint32."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(
            f"bernoulli_from_logits draws at most 2**32 - 1 values per call; got shape {shape}"
        )
    if not shape:
        return jnp.zeros((), jnp.uint32)
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]
    index = lax.broadcasted_iota(jnp.uint32, shape, 0) * np.uint32(strides[0])
    for axis in range(1, len(shape)):
        index = index + lax.broadcasted_iota(jnp.uint32, shape, axis) * np.uint32(strides[axis])
    return index


@partial(jax.jit, static_argnums=1)
def _threefry_words(rng_key, shape: tuple[int, ...]):
    """The two words of block ``(0, i)`` for every flat position ``i``.

    Equal to ``jax.random.bits(rng_key, shape, jnp.uint64)`` split into its high
    and low halves (threefry keys, ``jax_threefry_partitionable=True``).
    """
    k0, k1 = _key_words(_single_key(rng_key))
    return _threefry2x32(k0, k1, jnp.zeros(shape, jnp.uint32), _counter(shape))


def _mirrored_probability(logits):
    """:math:`q = 1 / (1 + e^{|\\ell|}) = \\min(p, 1 - p)`."""
    return 1.0 / (1.0 + jnp.exp(jnp.abs(logits)))


def _uniform_integer(word0, word1, dtype):
    """The block's random integer ``B`` as a float of ``dtype``, and its range ``2^bits``.

    float32: ``B = word0 >> 1`` (31 bits), float64: ``B = word0 2^32 + word1``
    (64 bits). The conversion rounds to nearest, which is monotone in ``B``.
    """
    if dtype == jnp.float64:
        return word0.astype(dtype) * 2.0**32 + word1.astype(dtype), 2.0**64
    return (word0 >> np.uint32(1)).astype(jnp.int32).astype(dtype), 2.0**31


def _draw(word0, word1, logits):
    """``x = [fl(B) < q 2^bits] xor [logits > 0]`` (see the module docstring)."""
    q = _mirrored_probability(logits)
    b, scale = _uniform_integer(word0, word1, logits.dtype)
    return (b < q * scale) != (logits > 0)


def threefry_words(
    rng_key: PRNGKeyArray, shape: tuple[int, ...]
) -> tuple[UInt32[Array, "..."], UInt32[Array, "..."]]:
    """The two words of the Threefry-2x32-20 block of every position of ``shape``.

    Exactly ``jax.random.bits(rng_key, shape, jnp.uint64)`` split into its high
    and low halves (threefry keys, ``jax_threefry_partitionable=True``): the bits
    that :func:`bernoulli_from_logits` draws with. A kernel that redraws every
    position once per step from logits computed in several stages (checkerboard
    Gibbs) makes the words once and passes them to :func:`bernoulli_from_words`
    at each stage, so each block is computed once.

    Parameters
    ----------
    rng_key
        A single PRNG key (typed or legacy).
    shape
        The shape of the draws.
    """
    return _threefry_words(_single_key(rng_key), tuple(int(n) for n in shape))


def bernoulli_from_words(
    words: tuple[UInt32[Array, "..."], UInt32[Array, "..."]],
    logits: Float[Array, "..."],
    dtype=None,
) -> Float[Array, "..."]:
    """:func:`bernoulli_from_logits` with the random words given: ``words`` from
    :func:`threefry_words` of ``logits.shape``.

    ``bernoulli_from_words(threefry_words(key, logits.shape), logits)`` equals
    ``bernoulli_from_logits(key, logits)`` bit for bit. Each pair of words must be
    used for one draw only (reusing them for a second draw at the same position
    correlates the two draws).
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(
            f"logits must have a floating-point dtype; got {logits.dtype}. "
            "Convert with logits.astype(jnp.float32)."
        )
    word0, word1 = words
    if word0.shape != logits.shape or word1.shape != logits.shape:
        raise ValueError(
            f"words must have the shape of logits {logits.shape}; got {word0.shape} and "
            f"{word1.shape}. Make them with threefry_words(rng_key, logits.shape)."
        )
    dtype = logits.dtype if dtype is None else jnp.dtype(dtype)
    return _draw(word0, word1, _working_precision(logits)).astype(dtype)


def bernoulli_from_logits(
    rng_key: PRNGKeyArray, logits: Float[Array, "..."], dtype=None
) -> Float[Array, "..."]:
    """Draw ``x ~ Bernoulli(sigmoid(logits))`` elementwise, as 0/1 in ``dtype``.

    Parameters
    ----------
    rng_key
        A single PRNG key (typed or legacy). The draws are a deterministic
        function of the key and the position; ``vmap`` over keys works.
    logits
        Floating-point logits of any shape (including scalars); float16 and
        bfloat16 are computed in float32. ``±inf`` are allowed.
    dtype
        Dtype of the result; defaults to the dtype of ``logits``.

    Returns
    -------
    Array of ``logits.shape`` holding 0 and 1. :math:`P(x = 1)` equals the
    working-precision sigmoid, formed as ``1 / (1 + exp(|logits|))`` and
    mirrored, to within :math:`\\max(2^{-31}, 2^{-24} \\min(p, 1 - p))` in float32
    (:math:`\\max(2^{-64}, 2^{-53} \\min(p, 1 - p))` in float64); the module
    docstring says how the random bits are made and why this holds.
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(
            f"logits must have a floating-point dtype; got {logits.dtype}. "
            "Convert with logits.astype(jnp.float32)."
        )
    dtype = logits.dtype if dtype is None else jnp.dtype(dtype)
    return _bernoulli(_single_key(rng_key), logits, dtype)


def _working_precision(logits):
    """float32 and float64 logits as they are; float16 and bfloat16 in float32."""
    return logits if logits.dtype in (jnp.float32, jnp.float64) else logits.astype(jnp.float32)


@partial(jax.jit, static_argnums=2)
def _bernoulli(rng_key, logits, dtype):
    word0, word1 = _threefry_words(rng_key, logits.shape)
    return _draw(word0, word1, _working_precision(logits)).astype(dtype)
