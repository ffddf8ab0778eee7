"""The API reference's docstring conversion (``docs/_griffe_rst_roles.py``): reST roles and
maths become Markdown, on examples and on every docstring in the package."""

import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import numpyro_ebm

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_roles", ROOT / "docs" / "_griffe_rst_roles.py")
roles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roles)

LEFT_OVER = re.compile(
    r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const|math):`|\.\. math::"
)


@pytest.mark.parametrize(
    "text, expected",
    [
        (":func:`~numpyro_ebm.learning.fit`", "`fit`"),
        (":class:`numpyro_ebm.energies.dbm.DBMParams`", "`numpyro_ebm.energies.dbm.DBMParams`"),
        (":py:meth:`~a.B.c` and :mod:`x.y`", "`c` and `x.y`"),
        (":func:`the fit <numpyro_ebm.learning.fit>`", "`the fit`"),
        (r"with :math:`\beta = 1` replicas", r"with $\beta = 1$ replicas"),
        (
            "Text.\n\n    .. math::\n\n        a = b\n        + c\n\n    After.\n",
            "Text.\n\n    $$\n    a = b\n    + c\n    $$\n\n    After.\n",
        ),
        ("Last.\n\n.. math::\n\n    x^2", "Last.\n\n$$\nx^2\n$$\n\n"),
        ("Is\n\n.. math:: a = b\n\nand so", "Is\n\n$$\na = b\n$$\n\nand so"),
    ],
)
def test_examples(text, expected):
    assert roles.convert(text) == expected


def _docstrings():
    modules = [numpyro_ebm]
    for info in pkgutil.walk_packages(numpyro_ebm.__path__, "numpyro_ebm."):
        if info.name == "numpyro_ebm.sklearn" or info.name.endswith("__main__"):
            # the estimators need the [sklearn] extra; a __main__ module runs on import
            continue
        modules.append(importlib.import_module(info.name))
    for module in modules:
        yield module.__name__, module.__doc__
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__:
                continue
            yield f"{module.__name__}.{name}", inspect.getdoc(value)
            for member, attribute in vars(value).items() if inspect.isclass(value) else ():
                if callable(attribute) or isinstance(attribute, property):
                    yield f"{module.__name__}.{name}.{member}", inspect.getdoc(attribute)


def test_no_rest_markup_survives_in_any_docstring():
    survivors = []
    for name, doc in _docstrings():
        if doc and LEFT_OVER.search(roles.convert(doc)):
            survivors.append(f"{name}: {LEFT_OVER.search(roles.convert(doc)).group(0)}")
    assert not survivors, "\n".join(survivors[:20])
