"""One of two processes of a ``jax.distributed`` run on localhost (see tests/test_sharding.py).

``python tests/_multiprocess.py PROCESS_ID PORT OUTPUT_DIR`` joins a two-process
run (coordinator ``127.0.0.1:PORT``, CPU collectives over Gloo, one CPU device
a process), trains a small RBM with ``fit(..., mesh=)`` over the mesh of both
processes' devices (chains over ``chain``), writing a checkpoint, and stores
the final state gathered to the host. Process 0 then trains the same RBM alone,
without a mesh, on its own device, and stores that too, so the test compares the
two-process run with the single-process one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_numpy_dtype_promotion", "strict")


def main(process_id: int, port: int, output: Path) -> None:
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
    )
    import numpy as np
    import optax

    from numpyro_ebm import sharding
    from numpyro_ebm.energies import bernoulli_rbm
    from numpyro_ebm.learning import rbm as rbm_rules
    from numpyro_ebm.learning.fit import fit

    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    rng = np.random.default_rng(0)  # the same data on both processes
    data = (rng.random((64, 12)) < 0.5).astype(np.float32)
    params = bernoulli_rbm.init_params(jax.random.key(0), 12, 8, weight_scale=0.5)
    rule = rbm_rules.bernoulli_rbm_pcd(n_chains=8)

    def train(mesh, checkpoint_dir=None):
        result = fit(
            jax.random.key(1),
            params,
            data,
            rule,
            optax.sgd(0.05),
            epochs=3,
            batch_size=16,
            progress=False,
            mesh=mesh,
            checkpoint_dir=checkpoint_dir,
        )
        return sharding.to_host((result.params, result.rule_state)), result.history

    mesh = sharding.Mesh(np.array(jax.devices()), ("chain",))
    (distributed, history) = train(mesh, output / "checkpoint")
    leaves = jax.tree.leaves(distributed)
    np.savez(output / f"process{process_id}.npz", *leaves)
    if process_id == 0:
        single, single_history = train(None)
        np.savez(output / "single.npz", *jax.tree.leaves(single))
        same_history = all(
            np.allclose(history[k], single_history[k], rtol=1e-5, atol=1e-5)
            for k in single_history
            if k != "wall_time"
        )
        (output / "history.txt").write_text(str(same_history))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
