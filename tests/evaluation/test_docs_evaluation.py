"""The example in docs/evaluation.md runs and prints sensible numbers."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


def test_evaluation_doc_example_runs(capsys):
    text = DOC.read_text()
    section = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    numbers = re.search(r"AIS log Z (\S+) interval \[(\S+), (\S+)\] exact (\S+)", out)
    log_z, lower, upper, exact = (float(x) for x in numbers.groups())
    # the same +-3 sigma check as tests/evaluation/test_ais.py (false-failure rate ~0.3%)
    assert lower <= exact <= upper and abs(log_z - exact) < 0.3
    auroc = float(re.search(r"AUROC, random bits vs digits: (\S+)", out).group(1))
    # the base-rate biases alone separate digits from uniform noise almost perfectly
    assert auroc > 0.95
