"""The README's quick start runs, and its set-up commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(name):
    text = README.read_text()
    section = re.search(rf"<!-- {name}:start -->(.*?)<!-- {name}:end -->", text, re.S).group(1)
    return re.search(r"```\w*\n(.*?)```", section, re.S).group(1)


@pytest.mark.standard_promotion  # optax.adam
def test_quickstart_runs(capsys):
    code = _block("quickstart")
    assert len(code.strip().splitlines()) <= 20
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    log_lik = float(re.search(r"exact mean log-likelihood: (-?[\d.]+)", out).group(1))
    assert -40.0 < log_lik < 0.0


def test_exactly_two_setup_commands_and_ci_uses_them():
    commands = [line for line in _block("setup-commands").splitlines() if line.strip()]
    assert len(commands) == 2
    assert "pip install" in commands[0] and "numpyro-ebm demo" in commands[0]
    assert "pytest" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "setup-commands:start" in ci
