"""bench/ is a package run as ``python -m bench.NAME``: its shape and its shared pieces.

Static checks read the scripts' source (no script runs): no ``sys.path`` edits, no
private name of the library, every JSON summary written by ``_common.write_summary``.
Then every script imports as ``bench.NAME`` and answers ``--help`` (its flags parse),
one through a real ``python -m`` process, and the shared helpers (``write_summary``,
``command_line``, ``recipes``) keep the files the committed results were written with.
Everything here is deterministic (no sampling), so nothing can fail by chance.
"""

import ast
import importlib
import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from bench import REPOSITORY, _common, recipes
from numpyro_ebm.energies import bernoulli_rbm, dbm

BENCH = REPOSITORY / "bench"
SHARED = ("_common", "recipes")  # modules of shared pieces, not benchmarks
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in ("__init__", *SHARED))


def _source_tree(name):
    return ast.parse((BENCH / f"{name}.py").read_text())


def _imported_names(tree):
    """``(module, name)`` of every import: ``import a.b`` gives ``("a.b", None)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)


@pytest.mark.parametrize("name", [*SCRIPTS, *SHARED])
def test_a_script_edits_no_sys_path_and_imports_no_private_library_name(name):
    tree = _source_tree(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            assert not (isinstance(node.value, ast.Name) and node.value.id == "sys"), (
                f"bench/{name}.py:{node.lineno} uses sys.path: import bench.* instead"
            )
    for module, imported in _imported_names(tree):
        parts = module.split(".")
        if parts[0] == "numpyro_ebm":
            private = [p for p in [*parts, imported or ""] if p.startswith("_")]
            assert not private, f"bench/{name}.py imports the private {module}.{imported}"
        elif parts[0] == "bench" and imported is not None and imported.startswith("_"):
            # bench._common is the package's own shared module; other scripts' private
            # names are not shared pieces
            assert (module, imported) == ("bench", "_common"), (name, module, imported)
        else:
            assert parts[0] not in {p.stem for p in BENCH.glob("*.py")}, (
                f"bench/{name}.py imports {module} as a top-level module: use bench.{module}"
            )


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_writes_its_json_through_write_summary(name):
    for node in ast.walk(_source_tree(name)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            is_json = isinstance(node.func.value, ast.Name) and node.func.value.id == "json"
            assert not (is_json and node.func.attr == "dump"), f"{name}:{node.lineno}"
            if node.func.attr == "write_text" and node.args:
                argument = node.args[0]
                writes_json = (
                    isinstance(argument, ast.Call)
                    and isinstance(argument.func, ast.Attribute)
                    and argument.func.attr == "dumps"
                )
                assert not writes_json, f"bench/{name}.py:{node.lineno}: use write_summary"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_imports_as_a_module_and_parses_help(name, capsys):
    module = importlib.import_module(f"bench.{name}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_python_dash_m_runs_a_script_from_the_repository_root():
    # sklearn_digits imports no JAX before its first fit (it times fresh processes): cheap
    completed = subprocess.run(
        [sys.executable, "-m", "bench.sklearn_digits", "--help"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage:")


def test_write_summary_keeps_each_scripts_layout_and_creates_the_directory(tmp_path):
    summary = {"test_log_likelihood": -85.5, "rows": [1, 2]}
    path = _common.write_summary(tmp_path / "new" / "run.json", summary)
    assert path == tmp_path / "new" / "run.json"
    assert path.read_text() == json.dumps(summary, indent=2)
    _common.write_summary(path, summary, indent=1, end="\n")  # sampler_shootout / regression
    assert path.read_text() == json.dumps(summary, indent=1) + "\n"


def test_command_line_names_the_module_and_its_flags():
    assert _common.command_line("gibbs_rbm", ["--repeats", "3"]) == (
        "python -m bench.gibbs_rbm --repeats 3"
    )
    assert _common.command_line("sampler_shootout", flags=["--budget 3.0", "--seed 0"]) == (
        "python -m bench.sampler_shootout --budget 3.0 --seed 0"
    )


def _random_params(params_type, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return params_type(*(jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in shapes))


def test_saved_parameters_load_back_exactly(tmp_path):
    rbm = _random_params(bernoulli_rbm.BernoulliRBMParams, [(6, 4), (6,), (4,)])
    recipes.save_rbm(tmp_path / "rbm.npz", rbm)
    with np.load(tmp_path / "rbm.npz") as arrays:  # the layout the committed files have
        assert sorted(arrays.files) == ["W", "b", "c"]
    loaded = recipes.load_rbm(tmp_path / "rbm.npz")
    for saved, back in zip(rbm, loaded, strict=True):
        np.testing.assert_array_equal(np.asarray(back), np.asarray(saved))
    machine = _random_params(dbm.DBMParams, [(6, 4), (4, 3), (6,), (4,), (3,)], seed=1)
    recipes.save_params(tmp_path / "dbm.npz", machine)
    back = recipes.load_params(tmp_path / "dbm.npz", dbm.DBMParams, jnp.float32)
    assert back._fields == machine._fields
    for saved, loaded_array in zip(machine, back, strict=True):
        np.testing.assert_array_equal(np.asarray(loaded_array), np.asarray(saved))


def test_loading_the_wrong_kind_of_parameters_names_the_missing_fields(tmp_path):
    rbm = _random_params(bernoulli_rbm.BernoulliRBMParams, [(6, 4), (6,), (4,)])
    recipes.save_rbm(tmp_path / "rbm.npz", rbm)
    with pytest.raises(ValueError, match=r"rbm.npz has no W1, W2, c1, c2: not a saved DBMParams"):
        recipes.load_params(tmp_path / "rbm.npz", dbm.DBMParams)
