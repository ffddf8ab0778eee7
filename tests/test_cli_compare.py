"""``numpyro-ebm compare`` with the gradient-informed discrete proposals (issue 29).

The kernels' correctness is tested against enumeration in ``tests/kernels``; here
the verb lists them, runs the ones ``--samplers`` names and tunes DMALA's and
DULA's step sizes apart from the kernels. The full default set (with
DiscreteHMCGibbs, which compiles for seconds) runs in ``test_cli.py`` under ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from numpyro_ebm import cli
from numpyro_ebm.cli import compare

NEW = ["gwg", "dmala", "dula", "locally-balanced", "pas", "hamming-ball"]


def test_the_discrete_proposals_run_on_a_bernoulli_rbm(tmp_path, capsys):
    assert set(NEW) <= set(compare.SAMPLERS)
    argv = ["compare", "--target", "bernoulli-rbm", "--chains", "2", "--steps", "20"]
    argv += ["--burn-in", "0", "--samplers", ",".join(NEW), "--no-plots", "--no-progress"]
    assert cli.main([*argv, "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert list(table["sampler"]) == [compare.SAMPLERS[name] for name in NEW]
    assert np.all(np.isfinite(table["ess_bulk"])) and np.all(table["evaluations"] > 0)
    # adjusted kernels report an acceptance; the Hamming ball's exact block draw has none
    assert np.all(
        np.isfinite(table.set_index("sampler").loc[["GWG", "DMALA", "PAS"], "acceptance_rate"])
    )
    assert "DMALA step size" in out and "tuned to acceptance 0.55" in out


def test_a_given_discrete_step_size_is_used_and_a_bad_one_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--target", "bernoulli-rbm", "--discrete-step-size", "-1"])
    assert "--discrete-step-size" in capsys.readouterr().err
    argv = ["compare", "--target", "bernoulli-rbm", "--chains", "2", "--steps", "8", "--burn-in"]
    argv += ["0", "--samplers", "dula", "--discrete-step-size", "0.4", "--no-plots"]
    assert cli.main([*argv, "--no-progress", "--output", str(tmp_path / "out")]) == 0
    assert "DMALA step size 0.4, DULA step size 0.2 (given)" in capsys.readouterr().out


def test_a_gaussian_rbm_names_the_samplers_that_fit(tmp_path, capsys):
    argv = ["compare", "--target", "gaussian-rbm-2d", "--samplers", "dmala", "--no-plots"]
    assert cli.main([*argv, "--output", str(tmp_path / "out")]) != 0
    assert "dmala cannot sample a gaussian-rbm" in capsys.readouterr().err
