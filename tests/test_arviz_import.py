"""The library imports ArviZ without ArviZ 0.23's "undergoing a major refactor" notice."""

import os
import subprocess
import sys
from pathlib import Path

import arviz as az
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTICE = "ArviZ is undergoing a major refactor"


def _stderr(code: str, cache: Path) -> str:
    # a fresh cache directory: ArviZ 0.23 shows its notice once a day, stamped there
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.slow  # two fresh interpreters importing JAX and ArviZ
@pytest.mark.skipif(int(az.__version__.split(".")[0]) >= 1, reason="ArviZ 0.23's notice")
def test_only_the_refactor_notice_is_silenced(tmp_path):
    # the control: a plain import shows it (so the check below can fail)
    assert NOTICE in _stderr("import arviz", tmp_path / "plain")
    out = _stderr(
        "import warnings\n"
        "from numpyro_ebm import _arviz\n"
        "_arviz.arviz()\n"
        "warnings.warn('another FutureWarning', FutureWarning)\n",
        tmp_path / "library",
    )
    assert NOTICE not in out
    assert "another FutureWarning" in out  # other warnings are untouched
