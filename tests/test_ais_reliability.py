"""AIS estimates that should not be reported as they stand: ``ais.reliability_problem``."""

import jax.numpy as jnp
import numpy as np

from numpyro_ebm.evaluation import ais


def test_unbounded_interval_and_small_ess_are_named_with_the_fix():
    # one run carries all the weight: 3 standard errors exceed the estimate, ESS = 1
    dominated = ais.summarize_log_weights(jnp.array([0.0] + [-30.0] * 19), 0.0, 100)
    assert np.isneginf(float(dominated.interval[0]))
    message = ais.reliability_problem(dominated)
    assert "unbounded below" in message
    assert "effective sample size 1 is under 10% of the 20 runs" in message
    assert "more AIS runs or more temperatures (here 20 runs and 100 temperatures)" in message

    # equal weights: ESS = n_runs, a finite interval, nothing to say
    even = ais.summarize_log_weights(jnp.zeros(20), 0.0, 100)
    assert ais.reliability_problem(even) is None

    # 15 of 200 runs carry the weight: a finite interval, but an ESS of 15 < 20
    w = jnp.array([0.0] * 15 + [-60.0] * 185)
    low_ess = ais.summarize_log_weights(w, 0.0, 100)
    assert np.isfinite(float(low_ess.interval[0]))
    message = ais.reliability_problem(low_ess)
    assert "effective sample size" in message and "unbounded" not in message


def test_default_schedule_ends_at_the_target_for_every_length():
    # three temperatures used to end at 0.9, which check_schedule (and AIS) refuse
    for n in range(3, 40):
        schedule = np.asarray(ais.default_schedule(n))
        assert len(schedule) == n and schedule[0] == 0.0 and schedule[-1] == 1.0
        assert np.all(np.diff(schedule) >= 0)
