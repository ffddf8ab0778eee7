"""bench/regression.py: the comparison rules (fast) and a smoke run (slow).

The comparison is checked on made-up figures: a drop of more than 5 points of the
committed ratio fails, a smaller one passes, and a kernel more than 1.5x slower on
one JAX line than on the other fails either way round. The smoke run times tiny
problems, writes the committed-figures file and re-reads it; nothing about speed is
asserted (that is what the benchmark itself does, on an idle machine).
"""

import json

import pytest

from bench import regression


def _entry(jax_version, **ratios):
    return {
        "jax": jax_version,
        "kernels": {name: {"ratio_to_reference": r} for name, r in ratios.items()},
    }


def _fresh(**ratios):
    return {
        regression.REFERENCE: {"ratio_to_reference": 1.0},
        **{name: {"ratio_to_reference": r} for name, r in ratios.items()},
    }


def test_drops_over_five_points_and_line_gaps_over_1_5x_fail():
    committed = _entry("0.10.2", rbm_gibbs=0.40, checkerboard_gibbs=0.80)
    other = _entry("0.12.1", rbm_gibbs=0.40, checkerboard_gibbs=0.80)
    failures, notes = regression.compare(
        _fresh(rbm_gibbs=0.381, checkerboard_gibbs=0.80), committed, other, 5.0, 1.5
    )
    assert failures == [] and notes == []  # 4.75 points down: within the limit
    failures, _ = regression.compare(
        _fresh(rbm_gibbs=0.379, checkerboard_gibbs=0.80), committed, other, 5.0, 1.5
    )
    assert len(failures) == 1 and failures[0].startswith("rbm_gibbs: ratio 0.3790 is 5.")
    failures, _ = regression.compare(
        _fresh(rbm_gibbs=0.40, checkerboard_gibbs=0.80),
        committed,
        _entry("0.12.1", rbm_gibbs=0.40, checkerboard_gibbs=0.05),
        5.0,
        1.5,
    )
    assert len(failures) == 1 and "16.00x slower on the other (jax 0.12.1) line" in failures[0]
    failures, notes = regression.compare(_fresh(rbm_gibbs=0.1), None, None, 5.0, 1.5)
    assert failures == [] and len(notes) == 2


@pytest.mark.slow  # a smoke run of the benchmark (~15 s of CPU, most of it compiling 8 loops)
def test_quick_run_writes_and_rereads_its_figures(tmp_path):
    argv = ["--quick", "--steps", "2", "--repeats", "1", "--results-dir", str(tmp_path)]
    assert regression.main(argv + ["--write"]) == 0
    path = regression.results_path(regression.jax_line(), tmp_path)
    stored = json.loads(path.read_text())[regression.entry_key()]
    assert set(stored["kernels"]) == {
        regression.REFERENCE,
        "rbm_gibbs",
        "dbm_gibbs",
        "boltzmann_gibbs",
        "binary_gibbs",
        "gibbs_with_gradients",
        "checkerboard_gibbs",
        "parallel_tempering",
    }
    assert stored["command"].startswith("python -m bench.regression --quick")
    # a committed ratio far above any real one makes the next run fail
    stored["kernels"]["rbm_gibbs"]["ratio_to_reference"] = 1e6
    path.write_text(json.dumps({regression.entry_key(): stored}))
    assert regression.main(argv) == 1
