"""Every ```python block of the documentation site (``docs/**/*.md``) runs.

The blocks of a page run in order, in one namespace, as one script: a page is
written to be read top to bottom. Code that is deliberately not run (shell
sessions, output, configuration files, sketches) goes in a block of another
language (``bash``, ``console``, ``toml``, ``text``), never in a ``python`` block.

A page whose code is run by a dedicated test (one that also checks the numbers it
prints) says so with ``<!-- code-tested-by: tests/path.py -->``; this module then
only checks that the named test exists and reads that page, so nothing runs twice.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TESTED_BY = re.compile(r"<!--\s*code-tested-by:\s*(\S+?)\s*-->")
# pages written on other branches whose dedicated tests run their code (until they carry the
# marker themselves); a page missing here and unmarked is run by test_page_code_runs
TESTED_ELSEWHERE = {
    "mixing.md": "tests/test_docs_mixing.py",
    "comparing_samplers.md": "tests/test_docs_mixing.py",
    "sklearn.md": "tests/test_sklearn.py",  # skipped there without the [sklearn] extra
    "arviz_versions.md": "tests/test_docs_arviz_versions.py",
    "scaling.md": "tests/_multidevice.py",  # needs several devices
    "tempering.md": "tests/kernels/test_docs_tempering.py",  # also checks the PT estimate
}
# pages whose code trains or races samplers for 10-20 s: run with -m slow (the suite's budget)
SLOW_PAGES = {"discrete_samplers.md", "learning_numpyro_models.md", "proteins.md"}
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def _pages():
    return sorted(DOCS.rglob("*.md"))


def _tested_by(page: Path) -> list[str]:
    marked = TESTED_BY.findall(page.read_text())
    listed = TESTED_ELSEWHERE.get(page.name)
    return marked or ([listed] if listed and (ROOT / listed).is_file() else [])


def _python_blocks(text: str) -> list[str]:
    return [body for language, body in FENCE.findall(text) if language == "python"]


def _run_here():
    return [
        pytest.param(
            page,
            id=str(page.relative_to(DOCS)),
            marks=[pytest.mark.slow] if page.name in SLOW_PAGES else [],
        )
        for page in _pages()
        if _python_blocks(page.read_text()) and not _tested_by(page)
    ]


@pytest.mark.standard_promotion  # user code: optax and NumPyro need JAX's default promotion
@pytest.mark.parametrize("page", _run_here())
def test_page_code_runs(page, capsys):
    namespace = {"__name__": f"__docs_{page.stem}__"}
    for i, block in enumerate(_python_blocks(page.read_text())):
        exec(compile(block, f"{page.relative_to(ROOT)} (python block {i + 1})", "exec"), namespace)
    capsys.readouterr()


def test_pages_tested_elsewhere_name_a_test_that_reads_them():
    for page in _pages():
        for target in _tested_by(page):
            test_file = ROOT / target.split("::")[0]
            assert test_file.is_file(), f"{page.name}: {target} does not exist"
            assert page.name in test_file.read_text(), f"{target} does not read {page.name}"


def test_every_fenced_block_names_its_language():
    # an unlabelled block is ambiguous: is it code the suite should run or not?
    for page in _pages():
        for language, body in FENCE.findall(page.read_text()):
            assert language, f"{page.name}: a ``` block without a language:\n{body[:200]}"


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    # CI runs the same command; here only when the [docs] extra is installed
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "api" / "kernels" / "index.html").is_file()
