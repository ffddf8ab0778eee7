"""The NumPyro route against the function path: one PCD-1 epoch of a 784x500 Bernoulli RBM.

- ``learning.fit``'s compiled epoch (:func:`numpyro_ebm.learning.engine.scan_epoch` of
  ``learning.rbm.bernoulli_rbm_pcd``): minibatches of a shuffled permutation;
- the NumPyro route: the same RBM written as a NumPyro model (``numpyro.param`` sites ``W``,
  ``b``, ``c``; an observed :class:`~numpyro_ebm.potentials.UnnormalizedEnergy` site over
  ``bernoulli_rbm.free_energy`` in ``numpyro.plate("data", N, subsample_size=100)``),
  learned by :class:`numpyro_ebm.infer.ContrastiveDivergence`, whose default negative phase
  for this site is the same closed-form rule; one epoch is ``N // 100`` steps of
  :func:`~numpyro_ebm.learning.engine.scan_steps`, each drawing its minibatch with NumPyro's
  subsampling.

Both with SGD with momentum and 100 persistent chains. The epochs are timed interleaved
(one of each per round, compilation excluded) and the printed speed is the median over
rounds of each round's fit/NumPyro time ratio (robust to a machine whose load changes).
Example::

    NUMPYRO_EBM_MNIST=../shared/data/mnist.npz python -m bench.numpyro_route --repeats 5

``--synthetic N`` replaces MNIST by N random binary rows (the smoke test).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import optax

from bench._common import machine_description, mnist_path
from numpyro_ebm import datasets, infer, potentials
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import engine
from numpyro_ebm.learning import rbm as rbm_rules


def rbm_model(initial: bernoulli_rbm.BernoulliRBMParams):
    """The Bernoulli RBM as a NumPyro model (the page docs/learning_numpyro_models.md)."""

    def model(data, batch_size=None):
        params = bernoulli_rbm.BernoulliRBMParams(
            numpyro.param("W", initial.W),
            numpyro.param("b", initial.b),
            numpyro.param("c", initial.c),
        )
        with numpyro.plate("data", data.shape[0], subsample_size=batch_size) as index:
            numpyro.sample(
                "v",
                potentials.UnnormalizedEnergy(
                    bernoulli_rbm.free_energy, params, (data.shape[1],), "binary"
                ),
                obs=data[index],
            )

    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None)
    parser.add_argument("--synthetic", type=int, default=0, help="N random rows instead of MNIST")
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    if args.synthetic:
        train = jax.random.bernoulli(jax.random.key(0), 0.3, (args.synthetic, 784)).astype(
            jnp.float32
        )
    else:
        train = jnp.asarray(
            datasets.load_mnist(mnist_path(args.mnist), binarize="stochastic").x_train
        )
    n, d = train.shape
    n_batches = n // args.batch_size
    params = bernoulli_rbm.init_params(jax.random.key(0), d, args.hidden, data=train)
    optimizer = optax.sgd(1e-3, momentum=0.9)

    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=args.chains, k=1)
    fit_state = engine.init_state(params, optimizer, rule.init(jax.random.key(1), params, train))
    fit_epoch = engine.scan_epoch(engine.train_step(rule, optimizer), args.batch_size, n_batches)

    cd = infer.ContrastiveDivergence(rbm_model(params), optim=optimizer, num_chains=args.chains)
    started = time.perf_counter()
    route_state = cd.init(jax.random.key(1), train, args.batch_size).train
    route_epoch = engine.scan_steps(engine.train_step(cd.rule, optimizer), n_batches)
    batch = cd.arrays(train, args.batch_size)
    route_state = jax.block_until_ready(route_epoch(route_state, batch, jax.random.key(2))[0])
    route_compile = time.perf_counter() - started
    started = time.perf_counter()
    fit_state = jax.block_until_ready(fit_epoch(fit_state, train, jax.random.key(2))[0])
    fit_compile = time.perf_counter() - started

    seconds = {"fit": [], "numpyro": []}
    for round_ in range(args.repeats):
        key = jax.random.key(3 + round_)
        started = time.perf_counter()
        fit_state = jax.block_until_ready(fit_epoch(fit_state, train, key)[0])
        seconds["fit"].append(time.perf_counter() - started)
        started = time.perf_counter()
        route_state = jax.block_until_ready(route_epoch(route_state, batch, key)[0])
        seconds["numpyro"].append(time.perf_counter() - started)
    ratio = float(np.median(np.divide(seconds["fit"], seconds["numpyro"])))

    print(f"machine: {machine_description()}")
    print(
        f"{d}x{args.hidden} RBM, PCD-1, batch {args.batch_size}, {n_batches} batches per epoch, "
        f"{args.chains} chains, median of {args.repeats} interleaved rounds"
    )
    print(f"learning.fit epoch (bernoulli_rbm_pcd):  {np.median(seconds['fit']):.3f} s")
    print(f"NumPyro route epoch (ContrastiveDivergence): {np.median(seconds['numpyro']):.3f} s")
    print(
        f"first epoch incl. compile: fit {fit_compile:.2f} s, NumPyro route {route_compile:.2f} s"
    )
    print(f"NumPyro route speed relative to fit: {ratio:.1%} (target >= 95%)")
    return ratio


if __name__ == "__main__":
    main()
