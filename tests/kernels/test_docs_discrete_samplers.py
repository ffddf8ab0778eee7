"""The example of docs/discrete_samplers.md runs and every sampler gets the energy right."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "discrete_samplers.md"


@pytest.mark.slow  # five samplers through compare_samplers: five compilations
def test_discrete_samplers_doc_example_runs(capsys):
    """The errors are at most 6 MCSE (two-sided normal tail 2e-9 per sampler); the tuned
    DMALA accepts within 0.1 of 0.55 (its printed mean over 100 steps x 8 chains); the
    evaluation counts are those the page states."""
    text = DOC.read_text()
    section = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"__name__": "__doc_example__"}
    exec(compile(code, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    acceptance = float(re.search(r"acceptance over the last 100 steps (\S+)", out).group(1))
    assert abs(acceptance - 0.55) < 0.1
    table = namespace["table"].set_index("sampler")
    assert list(table.index) == ["GWG", "DMALA", "LB (Barker)", "PAS", "Hamming ball"]
    assert (table["error_energy"] <= 6 * table["mcse_energy"]).all()
    per_step = table["evaluations"] / (2000 * 8)
    assert list(per_step) == [1.0, 1.0, 17.0, 1.0, 11.0]
