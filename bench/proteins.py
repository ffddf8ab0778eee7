"""Protein families: independent-site model, Potts RBM (20 hidden, exact log Z) and the
pairwise Potts model by pseudo-likelihood, on a fixed 80/20 split.

For each family (``--families``, files of ``$NUMPYRO_EBM_PROTEINS`` or ``--data-dir``):

- the split: ``numpy.random.default_rng(seed).permutation(n)``, the first 80% train,
  the rest test (``seed`` and the test indices are written to the results);
- DCA weights of the training sequences (1 / number within 80% identity), used by
  every model's positive statistics;
- **independent-site** model (exact, pseudo-count 1e-3 on weighted frequencies):
  test log-likelihood per sequence;
- **Potts RBM**, ``--hidden`` Bernoulli hidden units, PCD-``k`` with the closed-form
  gradient through ``learning.fit``: exact log Z by enumerating the hidden layer
  (``evaluation.potts``); with ``--large-hidden`` a second, larger RBM whose log Z is
  estimated by AIS (block-Gibbs transitions from the independent-site base) with RAISE
  on ``--raise-sequences`` test sequences beside it; test log-likelihood per sequence,
  seconds per epoch, and the
  frequency match of its persistent chains against the test set (Pearson r of the
  one-site frequencies and of the connected two-site correlations, adabmDCA's
  criterion);
- **pairwise Potts by pseudo-likelihood** (plmDCA objective, Adam): test
  pseudo-log-likelihood per sequence (its log Z is not computed here);
- on lattice proteins, the Spearman correlation between each held-out sequence's
  model score (log-likelihood, or -energy for the Potts model) and its pnat.

Example (a short run)::

    NUMPYRO_EBM_PROTEINS=../shared/data/proteins python -m bench.proteins \\
        --families lattice --epochs 10 --max-train 10000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import stats

from bench import RESULTS
from bench._common import command_line, machine_description, write_summary
from numpyro_ebm.datasets import fasta
from numpyro_ebm.energies import potts, potts_rbm
from numpyro_ebm.evaluation import annealing
from numpyro_ebm.evaluation import potts as potts_eval
from numpyro_ebm.kernels import potts_rbm_gibbs
from numpyro_ebm.learning import potts as potts_rules
from numpyro_ebm.learning.fit import fit

FAMILIES = {
    "lattice": ("Lattice_Proteins_MSA.fasta", "Lattice_Proteins_pnat.txt"),
    "ww": ("WW_domain_MSA.fasta", None),
    "kunitz": ("Kunitz_domain_MSA.fasta", None),
}


def split(n: int, seed: int, train_fraction: float = 0.8):
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(train_fraction * n))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def frequencies(codes, q, weights=None):
    """One-site frequencies (L, q) and two-site frequencies (L, q, L, q)."""
    x = np.eye(q, dtype=np.float64)[codes].reshape(len(codes), -1)
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    one = w @ x
    two = (x * w[:, None]).T @ x
    L = codes.shape[1]
    return one.reshape(L, q), two.reshape(L, q, L, q)


def frequency_match(samples, reference, q):
    """Pearson r of one-site frequencies and of connected two-site correlations (i < j)."""
    f1_s, f2_s = frequencies(samples, q)
    f1_r, f2_r = frequencies(reference, q)
    L = samples.shape[1]
    upper = np.triu(np.ones((L, L), bool), k=1)
    c_s = (f2_s - np.einsum("ia,jb->iajb", f1_s, f1_s)).transpose(0, 2, 1, 3)[upper]
    c_r = (f2_r - np.einsum("ia,jb->iajb", f1_r, f1_r)).transpose(0, 2, 1, 3)[upper]
    return {
        "pearson_one_site": float(stats.pearsonr(f1_s.ravel(), f1_r.ravel())[0]),
        "pearson_connected_two_site": float(stats.pearsonr(c_s.ravel(), c_r.ravel())[0]),
    }


def train_potts_rbm(n_hidden, key, args, train, test, weights, rows, fields, q):
    """Train a Potts RBM by weighted PCD; exact log Z for <= 20 hidden units, else AIS
    (block-Gibbs transitions from the independent-site base) with RAISE on test sequences."""
    L = train.shape[1]
    params = potts_rbm.init_params(
        key, L, q, n_hidden, data=train, weights=weights, pseudo_count=1e-3
    )
    optimizer = optax.chain(optax.add_decayed_weights(args.weight_decay), optax.adam(args.lr))
    start = time.perf_counter()
    fitted = fit(
        jax.random.fold_in(key, 1),
        params,
        rows,
        potts_rules.potts_rbm_pcd(args.chains, q, k=args.k, weighted=True),
        optimizer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        progress=False,
    )
    train_seconds = time.perf_counter() - start
    params = potts_rbm.zero_sum_gauge(fitted.params)
    entry = {
        "hidden": n_hidden,
        "epochs": args.epochs,
        "k": args.k,
        "chains": args.chains,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "weight_decay": args.weight_decay,
        "train_seconds": train_seconds,
        "median_epoch_seconds": float(np.median(fitted.history["wall_time"])),
        "chain_rhat_last_epoch": float(fitted.history["chain_rhat"][-1]),
    }
    start = time.perf_counter()
    if n_hidden <= potts_eval.MAX_HIDDEN:
        log_z = potts_eval.log_partition_potts_rbm(params)
        entry["log_z_method"] = "exact"
    else:
        base = potts_eval.CategoricalBase(fields)
        sampler = potts_rbm_gibbs.annealing_sampler(fields)
        ais = annealing.ais(
            jax.random.fold_in(key, 5),
            free_energy_codes,
            params,
            base,
            sampler,
            n_runs=args.ais_runs,
            n_temperatures=args.ais_temperatures,
            vmap_chains=False,
        )
        log_z = float(ais.log_z)
        entry["log_z_method"] = f"AIS ({args.ais_runs} runs, {args.ais_temperatures} temperatures)"
        entry["ais_interval_3_sigma"] = [float(x) for x in ais.interval]
        entry["ais_effective_sample_size"] = float(ais.effective_sample_size)
        if args.raise_sequences:
            subset = jnp.asarray(test[: args.raise_sequences], jnp.float32)
            reverse = annealing.reverse_ais(
                jax.random.fold_in(key, 6),
                free_energy_codes,
                params,
                base,
                sampler,
                subset,
                n_temperatures=args.ais_temperatures,
                vmap_chains=False,
            )
            ais_subset = potts_eval.log_likelihood_potts_rbm(params, subset, log_z)
            entry["raise"] = {
                "n_test_sequences": args.raise_sequences,
                "raise_mean_log_likelihood": float(reverse.mean),
                "raise_standard_error": float(reverse.standard_error),
                "ais_mean_log_likelihood_same_sequences": float(ais_subset.mean()),
            }
    entry["log_z"] = log_z
    entry["log_z_seconds"] = time.perf_counter() - start
    ll_test = potts_eval.log_likelihood_potts_rbm(params, test, log_z)
    ll_train = potts_eval.log_likelihood_potts_rbm(params, train, log_z)
    chains = np.asarray(fitted.rule_state.chains.position, np.int64)
    entry["test_log_likelihood"] = float(ll_test.mean())
    entry["train_log_likelihood_weighted"] = float(np.average(ll_train, weights=weights))
    entry["frequency_match_vs_test"] = frequency_match(chains, test, q)
    entry["test_scores"] = ll_test
    return entry


def free_energy_codes(params, v):
    return potts_rbm.free_energy(params, v, "codes")


def run_family(name, args, data_dir):
    msa_file, pnat_file = FAMILIES[name]
    data = fasta.load_fasta(data_dir / msa_file)
    codes, q = data.codes, data.n_states
    n, L = codes.shape
    train_index, test_index = split(n, args.seed)
    if args.max_train and len(train_index) > args.max_train:
        train_index = np.sort(
            np.random.default_rng(args.seed + 1).choice(train_index, args.max_train, replace=False)
        )
    train, test = codes[train_index], codes[test_index]
    result = {
        "family": name,
        "n_sequences": int(n),
        "length": int(L),
        "n_states": int(q),
        "split": {
            "seed": args.seed,
            "method": "np.random.default_rng(seed).permutation(n): first 80% train",
            "n_train_used": int(len(train_index)),
            "n_test": int(len(test_index)),
            "max_train": args.max_train,
        },
    }
    print(f"[{name}] n={n} L={L} q={q} train={len(train)} test={len(test)}", flush=True)

    start = time.perf_counter()
    weights = fasta.sequence_weights(train, identity=0.8, n_states=q)
    result["reweighting_seconds"] = time.perf_counter() - start
    result["effective_sequences"] = float(weights.sum())
    print(
        f"[{name}] weights in {result['reweighting_seconds']:.1f} s, N_eff={weights.sum():.0f}",
        flush=True,
    )

    pnat = None
    if pnat_file is not None:
        pnat = np.loadtxt(data_dir / pnat_file)[test_index]

    def spearman(scores):
        return None if pnat is None else float(stats.spearmanr(scores, pnat)[0])

    # ---- independent-site model (exact)
    fields = potts_rbm.independent_site_fields(train, q, weights, pseudo_count=1e-3)
    ll_indep = np.asarray(potts_eval.independent_site_log_likelihood(fields, test), np.float64)
    result["independent_site"] = {
        "test_log_likelihood": float(ll_indep.mean()),
        "spearman_pnat": spearman(ll_indep),
    }
    print(f"[{name}] independent sites: test LL {ll_indep.mean():.3f}", flush=True)

    # ---- Potts RBMs: exact log Z (<= 20 hidden), AIS and RAISE beside it (more)
    key = jax.random.key(args.seed)
    rows = potts_rules.weighted_rows(jnp.asarray(train, jnp.float32), weights)
    sizes = [n_hidden for n_hidden in (args.hidden, args.large_hidden) if n_hidden]
    for n_hidden in sizes:
        entry = train_potts_rbm(n_hidden, key, args, train, test, weights, rows, fields, q)
        entry["spearman_pnat"] = spearman(np.asarray(entry.pop("test_scores")))
        result["potts_rbm" if n_hidden == args.hidden else f"potts_rbm_{n_hidden}"] = entry
        print(
            f"[{name}] Potts RBM {n_hidden} hidden: test LL {entry['test_log_likelihood']:.3f} "
            f"({entry['log_z_method']}; {entry['train_seconds']:.0f} s training)",
            flush=True,
        )

    # ---- pairwise Potts by pseudo-likelihood
    if args.plm_epochs:
        potts_params = potts.init_params(jax.random.fold_in(key, 2), L, q, scale=0.0)
        potts_params = potts_params._replace(fields=fields)
        lam = args.plm_l2
        start = time.perf_counter()
        plm = fit(
            jax.random.fold_in(key, 3),
            potts_params,
            rows,
            potts_rules.pseudo_likelihood(q, weighted=True, l2_fields=lam, l2_couplings=lam),
            optax.adam(args.plm_lr),
            epochs=args.plm_epochs,
            batch_size=args.batch_size,
            progress=False,
            chain_diagnostics=False,
        )
        plm_seconds = time.perf_counter() - start
        test_float = jnp.asarray(test, jnp.float32)
        pll = np.asarray(potts.pseudo_log_likelihood(plm.params, test_float, "codes"))
        neg_energy = -np.asarray(potts.energy(plm.params, test_float, "codes"))
        result["potts_pseudo_likelihood"] = {
            "epochs": args.plm_epochs,
            "l2": lam,
            "learning_rate": args.plm_lr,
            "train_seconds": plm_seconds,
            "final_loss": float(plm.history["loss"][-1]),
            "test_pseudo_log_likelihood": float(pll.mean()),
            "test_log_likelihood": None,  # needs log Z (AIS): not computed in this script
            "spearman_pnat_minus_energy": spearman(neg_energy),
        }
        print(
            f"[{name}] Potts (PLM): test pseudo-LL {pll.mean():.3f} ({plm_seconds:.0f} s)",
            flush=True,
        )
    return result, test_index


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help=f"default: ${fasta.PROTEINS_ENV_VAR}")
    parser.add_argument("--families", default="lattice,ww")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train", type=int, default=0, help="0: all training sequences")
    parser.add_argument("--hidden", type=int, default=20, help="0: skip this RBM")
    parser.add_argument("--large-hidden", type=int, default=0, help="also an RBM this big (AIS)")
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument("--ais-temperatures", type=int, default=10000)
    parser.add_argument("--raise-sequences", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--chains", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--plm-epochs", type=int, default=5, help="0: skip the Potts model")
    parser.add_argument("--plm-lr", type=float, default=0.01)
    parser.add_argument("--plm-l2", type=float, default=1e-3)
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    data_dir = fasta.proteins_directory(args.data_dir)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    print(machine, flush=True)
    summaries = {}
    for name in args.families.split(","):
        if name not in FAMILIES:
            raise SystemExit(f"unknown family {name!r}; choose from {sorted(FAMILIES)}")
        result, test_index = run_family(name, args, data_dir)
        result["machine"] = machine
        result["command"] = command_line("proteins", argv)
        write_summary(out_dir / f"proteins_{name}.json", result)
        np.savez_compressed(out_dir / f"proteins_{name}_split.npz", test_index=test_index)
        summaries[name] = result
    return summaries


if __name__ == "__main__":
    main()
