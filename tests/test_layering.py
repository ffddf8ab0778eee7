"""The data flow is one-directional: a module imports only from layers to its left.

energies -> potentials -> kernels -> learning -> evaluation / diagnostics -> plots -> cli,
with the input checks, the ArviZ mixing statistics and the datasets below everything.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "numpyro_ebm"
RANK = {
    "_checks": 0,
    "_mixing": 0,  # ArviZ mixing statistics used by learning.fit and diagnostics alike
    "datasets": 0,
    "data": 0,
    "energies": 1,
    "potentials": 2,
    "kernels": 3,
    "learning": 4,
    "evaluation": 5,
    "diagnostics": 5,
    "plots": 6,
    "cli": 7,
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
