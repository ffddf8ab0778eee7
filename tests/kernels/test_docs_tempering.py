"""The example in docs/tempering.md runs and its PT estimate matches enumeration."""

import math
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tempering.md"


def test_tempering_doc_example_runs(capsys):
    text = DOC.read_text()
    section = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    exact, estimate = (float(x) for x in re.search(r"exact (\S+) PT (\S+)", out).groups())
    # 500 independent final states: binomial standard error sqrt(p (1 - p) / 500) = 0.021;
    # 3.29 of them is a two-sided test at alpha = 1e-3 (false-failure rate 0.1%)
    assert abs(estimate - exact) < 3.29 * math.sqrt(exact * (1 - exact) / 500)
    assert float(re.search(r"round trips per chain: (\S+)", out).group(1)) > 1
