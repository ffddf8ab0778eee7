"""Old import paths and names keep working after the splits and renames of issue 24:
each old name is the very object of its new home (an alias, not a copy)."""

import importlib

import pytest

from numpyro_ebm.evaluation import ais, deep, deep_belief, deep_boltzmann


@pytest.mark.parametrize(
    "module, old, new",
    [
        (ais, "raise_bernoulli_rbm", "reverse_ais_bernoulli_rbm"),
        (ais, "log_likelihood_bernoulli_rbm", "ais_log_likelihood_bernoulli_rbm"),
        (deep_boltzmann, "dbm_variational_bound", "variational_bound_dbm"),
        (deep_boltzmann, "dbm_log_likelihood_ais", "ais_log_likelihood_dbm"),
        (deep_boltzmann, "dbm_bound_tightness", "bound_tightness_dbm"),
        (deep_boltzmann, "dbm_base_biases", "base_biases_dbm"),
        (deep_belief, "dbn_variational_bound", "variational_bound_dbn"),
    ],
)
def test_old_names_are_aliases(module, old, new):
    assert getattr(module, old) is getattr(module, new)
    assert old in module.__all__ and new in module.__all__


@pytest.mark.parametrize(
    "old_module, new_modules",
    [
        ("numpyro_ebm.evaluation.ais", ["numpyro_ebm.evaluation.rbm_annealing"]),
        (
            "numpyro_ebm.evaluation.deep",
            ["numpyro_ebm.evaluation.deep_boltzmann", "numpyro_ebm.evaluation.deep_belief"],
        ),
        (
            "numpyro_ebm.diagnostics.inference_data",
            [
                "numpyro_ebm.diagnostics.summaries",
                "numpyro_ebm.diagnostics.conversion",
                "numpyro_ebm.diagnostics.numpyro_mcmc",
            ],
        ),
        (
            "numpyro_ebm.kernels.parallel_tempering",
            ["numpyro_ebm.kernels.tempering", "numpyro_ebm.kernels.ladder"],
        ),
    ],
)
def test_split_modules_keep_their_old_public_names(old_module, new_modules):
    old = importlib.import_module(old_module)
    homes = [importlib.import_module(name) for name in new_modules]
    for name in old.__all__:
        value = getattr(old, name)  # every public name of the old path resolves
        owners = [home for home in homes if name in getattr(home, "__all__", ())]
        for home in owners:
            assert getattr(home, name) is value, f"{old_module}.{name} is a copy"
    moved = {name for home in homes for name in home.__all__}
    # what moved out and was public before is still reachable from the old path
    assert moved & set(old.__all__)


def test_deep_reexports_every_name_of_both_models():
    assert set(deep_boltzmann.__all__) | set(deep_belief.__all__) <= set(deep.__all__)


def test_batched_is_the_old_name_of_not_vmap_chains():
    from numpyro_ebm.diagnostics.chains import resolve_vmap_chains

    assert resolve_vmap_chains(None, None) is True  # the default: vmap, for every kernel
    assert resolve_vmap_chains(None, True) is False
    assert resolve_vmap_chains(False, None) is False
    assert resolve_vmap_chains(False, True) is False
    with pytest.raises(ValueError, match="contradict"):
        resolve_vmap_chains(True, True)


def test_sampler_spec_takes_either_name_of_the_flag():
    from numpyro_ebm.diagnostics import SamplerSpec
    from numpyro_ebm.kernels import rbm_gibbs

    gibbs = rbm_gibbs.as_top_level_api()
    assert SamplerSpec(gibbs) == SamplerSpec(gibbs, vmap_chains=True)
    assert SamplerSpec(gibbs, batched=True) == SamplerSpec(gibbs, vmap_chains=False)
    assert SamplerSpec(gibbs, batched=True).vmap_chains is False
    with pytest.raises(ValueError, match="contradict"):
        SamplerSpec(gibbs, batched=True, vmap_chains=True)
