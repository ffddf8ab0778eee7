"""Checkpoints: damaged files give one clear error, the previous one is kept and used,
resume refuses other data and says when settings changed, and a run killed with
SIGKILL (while writing a checkpoint, or between two) resumes bit-exactly.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from numpyro_ebm.learning import CheckpointError, CheckpointWarning, load_checkpoint
from numpyro_ebm.learning.checkpoint import CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME

REPO = Path(__file__).resolve().parents[2]

# the run every test here trains: a 64-8 RBM on 100 embedded digits, PCD-1, 5 batches an epoch
SETUP = """
import jax, jax.numpy as jnp, optax
from numpyro_ebm import datasets
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.learning import fit, rbm_rules

DATA = jnp.asarray(datasets.load_digits().x_train[:100])
PARAMS = bernoulli_rbm.init_params(jax.random.key(0), 64, 8, data=DATA)
RULE = rbm_rules.bernoulli_rbm_pcd(n_chains=10)


def run(epochs, directory, resume=False, rng_key=jax.random.key(1), data=DATA, lr=0.05, config=None):
    return fit(rng_key, PARAMS, data, RULE, optax.sgd(lr, momentum=0.5), epochs=epochs,
               batch_size=20, checkpoint_dir=directory, resume=resume, progress=False,
               chain_diagnostics=False, config=config)
"""
namespace: dict = {}
exec(SETUP, namespace)
run = namespace["run"]
DATA = namespace["DATA"]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A directory after 2 epochs (checkpoint.npz at epoch 2, previous at epoch 1)."""
    directory = tmp_path_factory.mktemp("run")
    result = run(2, directory)
    return directory, result


def _copy(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def test_the_previous_checkpoint_is_kept(two_checkpoints):
    directory, _ = two_checkpoints
    assert load_checkpoint(directory)[1]["epoch"] == 2
    assert load_checkpoint(directory / PREVIOUS_CHECKPOINT_NAME)[1]["epoch"] == 1
    assert not list(directory.glob("*.tmp"))


@pytest.mark.parametrize("where", ["before the archive", "inside an archive member"])
def test_ctrl_c_while_saving_is_delivered_after_the_checkpoint_is_in_place(
    tmp_path, monkeypatch, where
):
    """SIGINT in the middle of the write: the new checkpoint lands, then KeyboardInterrupt.

    Before deferral a Ctrl-C inside zipfile could surface as zipfile's ValueError ("Can't
    close the ZIP file while there is an open writing handle") and lose the checkpoint.
    """
    from numpyro_ebm.learning import checkpoint

    # a run started in the background by a shell without job control inherits SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    state = checkpoint.TrainState(
        params={"W": np.ones((3, 2), np.float32)},
        opt_state=(),
        rule_state=(),
        learning_rate_scale=np.float32(1.0),
    )
    checkpoint.save_checkpoint(tmp_path, state, 1, {}, {})
    write_array = np.lib.format.write_array
    sent = []

    def interrupting_write_array(*args, **kwargs):
        if not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)  # Python runs the handler right here
        return write_array(*args, **kwargs)

    def interrupting_write(file, arrays):
        if where == "before the archive":
            signal.raise_signal(signal.SIGINT)
        else:
            monkeypatch.setattr(np.lib.format, "write_array", interrupting_write_array)
        np.savez(file, **arrays)

    monkeypatch.setattr(checkpoint, "_write_archive", interrupting_write)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(tmp_path, state, 2, {}, {})
    assert load_checkpoint(tmp_path)[1]["epoch"] == 2
    assert load_checkpoint(tmp_path / PREVIOUS_CHECKPOINT_NAME)[1]["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda b: b[: len(b) // 2], "unreadable"),  # truncated
        (lambda b: b"this is not a zip archive" * 10, "unreadable"),  # garbage
        (lambda b: b"", "unreadable"),  # empty
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_a_damaged_checkpoint_is_one_clear_error(two_checkpoints, tmp_path, damage, problem):
    directory = _copy(two_checkpoints[0], tmp_path / "damaged")
    path = directory / CHECKPOINT_NAME
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=rf"checkpoint {path} is {problem}") as error:
        load_checkpoint(path)
    assert isinstance(error.value, ValueError)


def test_an_incomplete_archive_is_a_clear_error(tmp_path):
    no_meta = tmp_path / "no_meta.npz"
    np.savez(no_meta, leaf_00000=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"no_meta.npz is incomplete: it has no 'meta'"):
        load_checkpoint(no_meta)
    missing_leaf = tmp_path / "missing_leaf.npz"
    meta = b'{"epoch": 1, "history": {}, "n_leaves": 2}'
    np.savez(missing_leaf, leaf_00000=np.zeros(3), meta=np.frombuffer(meta, np.uint8))
    with pytest.raises(CheckpointError, match=r"incomplete: 1 of its 2 arrays are missing"):
        load_checkpoint(missing_leaf)
    with pytest.raises(CheckpointError, match=r"does not exist"):
        load_checkpoint(tmp_path / "nothing_here")


def test_resume_falls_back_to_the_previous_checkpoint(two_checkpoints, tmp_path):
    directory = _copy(two_checkpoints[0], tmp_path / "fallback")
    path = directory / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:100])
    uninterrupted = run(3, tmp_path / "uninterrupted")
    with pytest.warns(CheckpointWarning, match=r"unreadable.*resuming from the previous"):
        resumed = run(3, directory, resume=True)
    # epoch 1 from the previous checkpoint, then epochs 2 and 3 again: the same run
    assert resumed.history["epoch"] == [1, 2, 3]
    _assert_same_params(resumed.params, uninterrupted.params)


def test_resume_with_every_checkpoint_damaged_is_an_error(two_checkpoints, tmp_path):
    directory = _copy(two_checkpoints[0], tmp_path / "both")
    for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME):
        (directory / name).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint in .*both"):
        run(3, directory, resume=True)


def test_resume_on_other_data_raises(two_checkpoints, tmp_path):
    directory = _copy(two_checkpoints[0], tmp_path / "data")
    other = DATA.at[0].set(1.0 - DATA[0])
    with pytest.raises(CheckpointError, match=r"other training data \(same shape and dtype"):
        run(3, directory, resume=True, data=other)
    with pytest.raises(CheckpointError, match=r"other training data \(shape \(100, 64\)"):
        run(3, directory, resume=True, data=DATA[:80])


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (dict(rng_key=jax.random.key(7)), "rng_key"),
        (dict(lr=0.01), "optimizer"),
        (dict(config={"note": "new"}), "config"),
    ],
    ids=["key", "learning_rate", "config"],
)
def test_resume_with_changed_settings_warns(two_checkpoints, tmp_path, change, named):
    directory = _copy(two_checkpoints[0], tmp_path / "changed")
    with pytest.warns(CheckpointWarning, match=rf"with a different {named}"):
        result = run(2, directory, resume=True, **change)
    assert result.epochs_completed == 2  # resumed (nothing left to train)


def _assert_same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------
# kill and resume
# ---------------------------------------------------------------------------------------

# The child trains and, at a chosen point, prints a line and blocks: the parent then
# kills it with SIGKILL, deterministically inside that window (no timing races).
CHILD = SETUP + textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from numpyro_ebm.learning import checkpoint

    mode, epochs, directory, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    original_save, original_write = checkpoint.save_checkpoint, checkpoint._write_archive
    saving = {}

    def block(message):
        print(message, flush=True)
        while True:
            time.sleep(60)

    def save(directory, state, epoch, *args):
        saving["epoch"] = epoch
        original_save(directory, state, epoch, *args)
        if mode == "kill-after-2" and epoch == 2:
            block("SAVED 2")  # killed between checkpoints 2 and 3

    def write(file, arrays):
        if mode == "kill-writing-3" and saving["epoch"] == 3:
            original_write(file, arrays)
            file.truncate(file.tell() // 2)  # half of the archive is on disk
            file.flush()
            block("WRITING 3")  # killed while writing checkpoint 3
        original_write(file, arrays)

    checkpoint.save_checkpoint, checkpoint._write_archive = save, write
    # the engine's checkpoint callback calls checkpoint.save_checkpoint, patched above

    result = run(epochs, directory, resume=(mode != "kill-after-2"))
    leaves = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(result.params))}
    np.savez(out, epochs=result.epochs_completed, **leaves)
    print("DONE", flush=True)
    """
)


def _start(script: Path, mode: str, epochs: int, directory: Path, out: Path):
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(epochs), str(directory), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _kill_at(process, marker: str):
    line = process.stdout.readline().strip()  # blocks until the child reaches the window
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert line == marker, f"child said {line!r} instead of {marker!r}: {stderr}"
    assert process.returncode == -signal.SIGKILL


def test_kill_and_resume_is_bit_exact(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    directory, out = tmp_path / "checkpoints", tmp_path / "final.npz"

    # 1. killed between checkpoints, right after checkpoint 2 is complete
    _kill_at(_start(script, "kill-after-2", 4, directory, out), "SAVED 2")
    assert load_checkpoint(directory)[1]["epoch"] == 2

    # 2. resumed, then killed while checkpoint 3 is half written
    _kill_at(_start(script, "kill-writing-3", 4, directory, out), "WRITING 3")
    assert load_checkpoint(directory)[1]["epoch"] == 2  # the last complete checkpoint
    assert list(directory.glob("*.tmp"))  # the interrupted write left its temporary file

    # 3. resumed again: finds checkpoint 2, runs epochs 3 and 4
    finisher = _start(script, "finish", 4, directory, out)
    stdout, stderr = finisher.communicate(timeout=600)
    assert finisher.returncode == 0 and "DONE" in stdout, stderr
    assert not list(directory.glob("*.tmp"))
    assert load_checkpoint(directory)[1]["epoch"] == 4

    uninterrupted = run(4, tmp_path / "uninterrupted")
    with np.load(out) as final:
        assert int(final["epochs"]) == 4
        for i, leaf in enumerate(jax.tree.leaves(uninterrupted.params)):
            np.testing.assert_array_equal(final[f"leaf_{i}"], np.asarray(leaf))
