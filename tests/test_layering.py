"""The data flow is one-directional: a module imports only from layers to its left.

energies -> potentials -> kernels -> learning -> evaluation / diagnostics -> registry / plots
-> cli, with the input checks, the ArviZ mixing statistics, the device-mesh helpers (sharding) and
the datasets below everything, and the scikit-learn estimators (``numpyro_ebm.sklearn``, an
optional extra) on top, imported by nothing else.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "numpyro_ebm"
RANK = {
    "_checks": 0,
    "_arviz": 0,  # the one module that knows which ArviZ line is installed
    "_mixing": 0,  # ArviZ mixing statistics used by learning.fit and diagnostics alike
    "_executable_cache": 0,  # compiled programs on disk (the estimators' epochs)
    "datasets": 0,
    "data": 0,
    "sharding": 0,
    "energies": 1,
    "potentials": 2,
    "kernels": 3,
    "learning": 4,
    "evaluation": 5,
    "diagnostics": 5,
    "plots": 6,
    "registry": 6,  # models and rules by name: needs energies to evaluation, serves cli and sklearn
    "cli": 7,
    "infer": 7,  # NumPyro programs learned (on learning.engine) and inferred (Exchange)
    "sklearn": 8,
}


def _layer(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_layers(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("numpyro_ebm")
        ):
            parts = node.module.split(".")
            if len(parts) > 1:
                yield parts[1], node.lineno
            else:
                for alias in node.names:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "numpyro_ebm" and len(parts) > 1:
                    yield parts[1], node.lineno


def test_every_layer_is_ranked():
    layers = {
        _layer(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    }
    assert layers <= set(RANK), f"unranked modules: {layers - set(RANK)}"


def test_imports_only_go_left():
    violations = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue  # the package root re-exports everything
        own = _layer(path)
        for imported, line in _imported_layers(path):
            if imported in RANK and RANK[imported] > RANK[own]:
                violations.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {imported}"
                )
    assert not violations, "\n".join(violations)


def test_sklearn_estimators_are_imported_by_nothing_and_need_scikit_learn():
    """``import numpyro_ebm`` never loads scikit-learn, and without scikit-learn
    ``import numpyro_ebm.sklearn`` says which extra to install."""
    code = (
        "import sys\n"
        "import numpyro_ebm\n"
        "assert 'sklearn' not in sys.modules and 'numpyro_ebm.sklearn' not in sys.modules\n"
        "sys.modules['sklearn'] = None  # as if scikit-learn were not installed\n"
        "try:\n"
        "    import numpyro_ebm.sklearn\n"
        "except ImportError as error:\n"
        "    assert 'pip install numpyro_ebm[sklearn]' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_only_the_compat_module_imports_arviz():
    """ArviZ 0.23 (``InferenceData``) and 1.x (``DataTree``) differ; ``numpyro_ebm/_arviz.py``
    is the one module that imports ArviZ, so no other module branches on its version."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() == "_arviz.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            if any(name.split(".")[0].startswith("arviz") for name in names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, "import ArviZ through numpyro_ebm._arviz:\n" + "\n".join(offenders)


def test_split_packages_re_export_exactly_their_modules_public_names():
    # each package's __init__ lists its modules' names again, literally, so that static
    # tools (ruff, type checkers, the API docs) see the re-exports; this keeps the copies equal
    import importlib

    for package, modules in {
        "datasets": ("toy", "images", "downloads", "fasta"),
        "diagnostics": (
            "summaries",
            "conversion",
            "numpyro_mcmc",
            "inference_data",  # the three above under their old common path
            "chains",
            "comparison",
            "exact_moments",
            "mixing",
        ),
    }.items():
        top = importlib.import_module(f"numpyro_ebm.{package}")
        exported = {}
        for module_name in modules:
            module = importlib.import_module(f"numpyro_ebm.{package}.{module_name}")
            exported[module_name] = module
            exported |= {name: getattr(module, name) for name in module.__all__}
        assert set(top.__all__) == set(exported), (package, set(top.__all__) ^ set(exported))
        assert len(top.__all__) == len(exported), package  # no name listed twice
        for name, value in exported.items():
            assert getattr(top, name) is value, (package, name)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = PACKAGE.parent / dotted.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_no_private_name_is_used_across_modules():
    """A private (underscore) name is used only in its own module, and a private module only
    inside the package that holds it (``kernels/_bernoulli.py`` by the kernels; the package's
    own leaf helpers such as ``numpyro_ebm._checks`` by all of it): what another layer needs
    is public, so it can be read, documented and kept stable. Checks ``from m import _name``,
    ``import m._private`` and ``alias._name`` where ``alias`` names one of our modules."""
    violations = []
    for path in PACKAGE.rglob("*.py"):
        own = _module_name(path)
        package = own if path.name == "__init__.py" else own.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        modules = {}  # local name -> our module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numpyro_ebm"):
                imported = [(node.module, alias) for alias in node.names]
            elif isinstance(node, ast.Import):
                imported = [(None, a) for a in node.names if a.name.startswith("numpyro_ebm")]
            else:
                continue
            for module, alias in imported:
                dotted = alias.name if module is None else module
                parts = dotted.split(".")
                for i, part in enumerate(parts):
                    holder = ".".join(parts[:i])
                    inside = package == holder or package.startswith(holder + ".")
                    if part.startswith("_") and not inside:
                        violations.append(f"{path}:{node.lineno} imports private module {dotted}")
                if module is None:
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    continue
                full = f"{module}.{alias.name}"
                if _is_module(full):
                    modules[alias.asname or alias.name] = full
                    inside = package == module or package.startswith(module + ".")
                    if alias.name.startswith("_") and not inside:
                        violations.append(f"{path}:{node.lineno} imports private module {full}")
                elif alias.name.startswith("_"):
                    violations.append(f"{path}:{node.lineno} imports {alias.name} from {module}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                violations.append(f"{path}:{node.lineno} uses {modules[node.value.id]}.{node.attr}")
    assert not violations, "\n".join(sorted(violations))


def _third_party_private_uses(path: Path):
    """``(package, what)`` for every private name of an installed third-party package that
    ``path`` uses: ``from pkg.mod import _name``, a private module (``pkg._mod``) in an
    import, and ``alias._name`` where ``alias`` is an imported third-party module. The
    standard library is left out (``sys._getframe`` is documented CPython API)."""
    tree = ast.parse(path.read_text())
    aliases = {}  # local name -> third-party module it stands for
    uses = []

    def third_party(dotted: str) -> bool:
        top = dotted.split(".")[0]
        return top not in ("numpyro_ebm", "__future__") and top not in sys.stdlib_module_names

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if third_party(alias.name):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
                    if any(part.startswith("_") for part in alias.name.split(".")):
                        uses.append((alias.name.split(".")[0], alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module and third_party(node.module):
            top = node.module.split(".")[0]
            if any(part.startswith("_") for part in node.module.split(".")):
                uses.append((top, node.module))
            for alias in node.names:
                if alias.name.startswith("_"):
                    uses.append((top, f"{node.module}.{alias.name}"))
                else:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            module = aliases[node.value.id]
            uses.append((module.split(".")[0], f"{module}.{node.attr}"))
    return uses


def test_third_party_private_names_are_isolated_in_one_adapter_module_each():
    """A private name of BlackJAX, NumPyro, JAX, scikit-learn... may change in any release;
    each package's private names are used by ONE module of ours (its adapter, e.g.
    ``kernels/_blackjax_adapter.py``), so an upgrade that breaks them breaks one file."""
    users = {}
    for path in PACKAGE.rglob("*.py"):
        for package, what in _third_party_private_uses(path):
            users.setdefault(package, {}).setdefault(_module_name(path), []).append(what)
    spread = {package: modules for package, modules in users.items() if len(modules) > 1}
    assert not spread, "\n".join(
        f"{package}: {sorted(modules)} all use its private names: {modules}"
        for package, modules in spread.items()
    )


def test_the_third_party_private_name_check_sees_each_kind_of_use(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import numpy as np\n"
        "import jax._src.core\n"
        "from numpyro.primitives import _PYRO_STACK\n"
        "from sklearn.utils._param_validation import Interval\n"
        "import sys\n"
        "np._NoValue, sys._getframe\n"
    )
    found = sorted(_third_party_private_uses(source))
    assert found == [
        ("jax", "jax._src.core"),
        ("numpy", "numpy._NoValue"),
        ("numpyro", "numpyro.primitives._PYRO_STACK"),
        ("sklearn", "sklearn.utils._param_validation"),
    ]
