"""The example in docs/arviz_versions.md runs on the installed ArviZ line and prints what
the page says: the native container of that line, with the same groups and summaries."""

import re
from pathlib import Path

import arviz as az

DOC = Path(__file__).resolve().parents[1] / "docs" / "arviz_versions.md"


def test_arviz_versions_doc_example_runs(capsys, tmp_path, monkeypatch):
    text = DOC.read_text()
    section = re.search(r"<!-- example:start -->(.*?)<!-- example:end -->", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the example saves rank.png in the working directory
    exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    native = "DataTree" if int(az.__version__.split(".")[0]) >= 1 else "InferenceData"
    assert f"container: {native}" in out
    assert "groups: ['posterior', 'sample_stats', 'state']" in out
    assert "rows: ['free_energy', 'mean_activation', 'coordinate[0]', 'coordinate[11]']" in out
    assert "state: (4, 200, 12)" in out and "per-unit rows: 12" in out
    # 4 chains x 200 Gibbs sweeps of a 12-6 RBM mix well: R-hat is near 1 on both lines
    rhat = float(re.search(r"max R-hat: (\S+)", out).group(1))
    assert 0.99 < rhat < 1.05
    assert (tmp_path / "rank.png").stat().st_size > 0
