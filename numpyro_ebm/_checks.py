"""Input validation shared by every layer.

These checks run on concrete (non-traced) arrays only: inside ``jit`` the values
are unknown, so they are skipped there and the caller is expected to have
validated its data before entering compiled code (the learning loop and the
public helpers do).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "is_concrete",
    "check_array",
    "check_binary",
    "check_spins",
    "check_last_dim",
    "check_params",
    "check_input",
    "as_shape",
    "check_probabilities",
    "validate_binary_data",
    "validate_bernoulli_data",
    "validate_spin_data",
    "DATA_VALIDATORS",
    "check_int",
]


def is_concrete(x) -> bool:
    """True when ``x`` holds actual values (not a JAX tracer)."""
    return not isinstance(x, jax.core.Tracer)


def check_array(x, name: str, *, ndim_min: int = 1, floating: bool = True, finite: bool = True):
    """Return ``x`` as a JAX array after checking rank, dtype and finiteness.

    Raises
    ------
    TypeError
        If ``floating`` and the dtype is not a floating-point type.
    ValueError
        If the rank is below ``ndim_min`` or (for concrete arrays) values are NaN/inf.
    """
    if isinstance(x, jax.core.Tracer):
        arr = x
    else:
        arr = jnp.asarray(x)
    if arr.ndim < ndim_min:
        raise ValueError(
            f"{name} must have at least {ndim_min} dimension(s); got shape {tuple(arr.shape)}"
        )
    if floating and not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(
            f"{name} must have a floating-point dtype (float32 or float64); got {arr.dtype}. "
            f"Convert with {name}.astype(jnp.float32)."
        )
    if finite and is_concrete(arr):
        bad = ~np.isfinite(np.asarray(arr))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf); "
                f"the first is at index {idx}"
            )
    return arr


def check_last_dim(x, expected: int, name: str, what: str = "units"):
    """Raise a ValueError naming both sizes when ``x.shape[-1] != expected``."""
    if x.shape[-1] != expected:
        raise ValueError(
            f"{name} has {x.shape[-1]} {what} in its last dimension but the model has "
            f"{expected}; got shape {tuple(x.shape)}"
        )
    return x


def check_binary(x, name: str):
    """Raise if a concrete array holds values other than 0 and 1."""
    if is_concrete(x):
        values = np.asarray(x)
        bad = (values != 0) & (values != 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            if np.all((values == -1) | (values == 1)):
                raise ValueError(
                    f"{name} holds ±1 spins but the model takes 0/1 units (e.g. {values[idx]!r} "
                    f"at index {idx}); map the data with (s + 1) / 2, or the parameters with "
                    "numpyro_ebm.energies.spins, or use the sampler's spins=True option"
                )
            raise ValueError(
                f"{name} must be binary (0/1) for a binary model; found {int(bad.sum())} "
                f"value(s) outside {{0, 1}}, e.g. {values[idx]!r} at index {idx}. "
                "Binarize first (numpyro_ebm.datasets.binarize_threshold or binarize_stochastic) or use a "
                "Gaussian-Bernoulli RBM for real-valued data."
            )
    return x


def check_spins(x, name: str):
    """Raise if a concrete array holds values other than -1 and +1."""
    if is_concrete(x):
        values = np.asarray(x)
        bad = (values != -1) & (values != 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            hint = ""
            if np.all((values == 0) | (values == 1)):
                hint = (
                    "; these look like 0/1 units: map them with 2 x - 1, or use spins=False "
                    "(numpyro_ebm.energies.spins maps the parameters)"
                )
            raise ValueError(
                f"{name} must hold spins in {{-1, +1}}; found {int(bad.sum())} other value(s), "
                f"e.g. {values[idx]!r} at index {idx}{hint}"
            )
    return x


def check_params(params, params_type, name: str = "params"):
    """Raise a TypeError unless ``params`` has every field of the NamedTuple ``params_type``.

    Static (attribute lookups only), so it also runs under ``jit``. Duck typing:
    any object with the fields passes (NamedTuples of the same layout, wrappers).
    A dict gets a hint to build the NamedTuple from it.
    """
    if isinstance(params, params_type):
        return params
    fields = params_type._fields
    missing = [f for f in fields if not hasattr(params, f)]
    if missing:
        got = type(params).__name__
        hint = ""
        if isinstance(params, Mapping):
            got += f" with keys {sorted(map(str, params))}"
            hint = f" Build one with {params_type.__name__}(**{name})."
        raise TypeError(
            f"{name} must be a {params_type.__name__} with fields ({', '.join(fields)}); "
            f"got {got} (missing {', '.join(missing)}).{hint}"
        )
    return params


def check_input(x, name: str, size: int | None, what: str = "units", *, ndim_min: int = 1):
    """Static checks of an energy's input: float dtype, rank, and last-dimension ``size``.

    No value checks (no NaN scan, no device transfer), so it is cheap enough for
    every call of an energy and also runs on tracers (shapes are static).
    ``size=None`` skips the width check.
    """
    x = check_array(x, name, ndim_min=ndim_min, finite=False)
    if size is not None:
        check_last_dim(x, size, name, what)
    return x


def as_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints; an int ``n`` means ``(n,)``.

    Accepts anything NumPy would (an int, a tuple or list of ints, NumPy integers)
    and raises a TypeError/ValueError naming ``name`` otherwise.
    """
    try:
        return (_non_negative(operator.index(shape), name),)
    except TypeError:
        pass
    try:
        items = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a tuple of ints, e.g. 8 or (8,); got {shape!r}"
        ) from None
    try:
        dims = tuple(operator.index(d) for d in items)
    except TypeError:
        raise TypeError(f"{name} must hold integers only; got {shape!r}") from None
    for d in dims:
        _non_negative(d, name)
    return dims


def _non_negative(d: int, name: str) -> int:
    if d < 0:
        raise ValueError(f"{name} must not hold negative sizes; got {d}")
    return int(d)


def check_probabilities(x, name: str):
    """Raise if a concrete array holds values outside ``[0, 1]`` (NaN included)."""
    if is_concrete(x):
        values = np.asarray(x)
        bad = ~((values >= 0) & (values <= 1))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must hold binary values or probabilities in [0, 1] for a Bernoulli "
                f"model; found {int(bad.sum())} value(s) outside [0, 1], e.g. {values[idx]!r} "
                f"at index {idx}. Rescale grey levels to [0, 1] (e.g. divide by 255) or use a "
                "Gaussian-Bernoulli RBM for real-valued data."
            )
    return x


def validate_binary_data(data, name: str = "data"):
    """Training data of a binary model: finite floats, rank >= 2, values in {0, 1}."""
    data = check_array(data, name, ndim_min=2)
    return check_binary(data, name)


def validate_bernoulli_data(data, name: str = "data"):
    """Training data of a Bernoulli RBM: finite floats, rank >= 2, values in ``[0, 1]``.

    Binary data is the model's support. Values strictly between 0 and 1 are read as
    probabilities (scikit-learn's ``BernoulliRBM`` accepts them too) and used as they
    are: the positive phase is then a *mean-field* one, the statistics at the mean
    ``v = p`` rather than their expectation over binary vectors drawn from ``p``. It is
    a common and useful approximation, not the likelihood gradient of binary data;
    binarize (``numpyro_ebm.datasets.binarize_stochastic``) for that.
    """
    data = check_array(data, name, ndim_min=2)
    return check_probabilities(data, name)


def validate_spin_data(data, name: str = "data"):
    """Training data of a spin model: finite floats, rank >= 2, values in {-1, +1}."""
    data = check_array(data, name, ndim_min=2)
    return check_spins(data, name)


DATA_VALIDATORS = {"binary": validate_binary_data, "spins": validate_spin_data}
"""Validator for the ``data_support`` a kernel's ``init`` declares (see the Gibbs kernels)."""


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """``value`` as an int (Python or NumPy integer, not bool), at least ``minimum``.

    Raises a TypeError for a float, string or bool, and a ValueError below ``minimum``,
    both naming ``name``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer; got {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    return int(value)
