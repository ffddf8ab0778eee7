"""The command line: the main job (``numpyro-ebm demo``) with tiny arguments, every
argument check in process (fast), and every command end to end in subprocesses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from numpyro_ebm import cli
from numpyro_ebm.energies import bernoulli_rbm
from numpyro_ebm.evaluation import exact
from numpyro_ebm.learning import load_checkpoint


@pytest.mark.standard_promotion  # optax.adam
def test_demo_trains_reports_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    status = cli.main(
        [
            "demo",
            "--output",
            str(out),
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--sample-sweeps",
            "20",
            "--no-progress",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "test log-likelihood (exact)" in printed
    summary = json.loads((out / "summary.json").read_text())
    # three epochs of PCD already beat the independent-pixel model on held-out digits
    assert (
        summary["test_log_likelihood"]
        > summary["independent_pixel_baseline_test_log_likelihood"] - 0.5
    )
    for name in ("samples.png", "filters.png", "training_curves.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    leaves, meta = load_checkpoint(out / "checkpoint")
    assert meta["epoch"] == 3 and meta["config"]["n_hidden"] == 8
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves if leaf.dtype.kind == "f")


# --------------------------------------------------------------------------------------
# Argument checks: in process, before any data is read or anything compiled (fast)
# --------------------------------------------------------------------------------------


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # issue 26: one line, not the whole usage block, and where to find more
    assert len(err.strip().splitlines()) == 1 and "--help' for more" in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # issue 16: these used to train a full epoch and then fail with a traceback
        (["demo", "--hidden", "40"], "--hidden 40 is too large"),
        (["demo", "--learning-rate", "nan"], "--learning-rate must be a finite positive"),
        (["demo", "--batch-size", "5000"], "larger than the 1438 training images"),
        (["demo", "--epochs", "0"], "--epochs must be positive"),
        (["train", "--learning-rate", "-1"], "--learning-rate must be a finite positive"),
        (["train", "--data", "missing.npz"], "no such file: missing.npz"),
        (["train", "--model", "dbm", "--hidden", "8"], "--hidden takes 2 size(s) for a dbm"),
        (
            ["train", "--model", "dbm", "--hidden", "8", "4", "--rule", "cd"],
            "the dbm trains with pcd",
        ),
        (["train", "--model", "gaussian-rbm", "--centered"], "--centered is implemented for"),
        (["train", "--momentum", "1.5"], "--momentum must lie in [0, 1)"),
        (["train", "--history", "h.txt"], "--history must end in .csv or .json"),
        (["train", "--key", "x"], "--key applies to .npz files"),
        (["train", "--resume", "--overwrite"], "exclude each other"),
        (["evaluate", "nowhere", "--data", "digits"], "no such checkpoint: nowhere"),
        (["sample", ".", "--kernel", "hmc"], "needs --step-size"),
        (["sample", ".", "--clamp", "x.npy"], "no such file: x.npy"),
        (["compare"], "give a checkpoint or --target"),
        (["compare", "--target", "bernoulli-rbm", "--chains", "1"], "--chains must be at least 2"),
        (
            ["compare", "--target", "bernoulli-rbm", "--samplers", "gibbs"],
            "unknown sampler(s) gibbs",
        ),
        (["sample", ".", "--kernel", "single-site", "--save-means"], "--save-means needs --kernel"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    assert message in _usage_error(argv, capsys)


def test_config_file_is_checked(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('[model]\nmodel = "bernoulli-rbm"\nhiden = [8]\n')
    assert "unknown setting(s) hiden" in _usage_error(["train", "--config", str(config)], capsys)
    config.write_text("[training]\nepochs = 'ten'\n")
    assert "epochs = 'ten'" in _usage_error(["train", "--config", str(config)], capsys)
    config.write_text("epochs = [")
    assert "not valid TOML" in _usage_error(["train", "--config", str(config)], capsys)


def test_existing_checkpoint_needs_resume_or_overwrite(tmp_path, capsys):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "checkpoint.npz").write_bytes(b"")
    error = _usage_error(["train", "--output", str(tmp_path)], capsys)
    assert "pass --resume to continue that run or --overwrite" in error


@pytest.mark.parametrize("command", ["demo", "train", "evaluate", "sample", "compare"])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"numpyro-ebm {command}" in out.split("examples:")[1]


def test_help_is_plain_text_with_help_and_default_for_every_option(capsys):
    import argparse

    from numpyro_ebm.cli import train

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        text = command.format_help()
        for markup in ("``", ":func:", ":mod:", ":class:", ".. "):
            assert markup not in text, (name, markup)
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            shown = formatter._get_help_string(action)
            assert action.help, (name, action.option_strings)
            default = train.DEFAULTS.get(action.dest) if name == "train" else action.default
            if default is not None and default is not False:
                assert "default" in shown, (name, action.option_strings, shown)


def test_bad_files_give_one_line_and_exit_1(tmp_path, capsys):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive")
    two = tmp_path / "two.npz"
    np.savez(two, a=np.zeros((4, 3)), b=np.ones((4, 3)))
    grey = tmp_path / "grey.npy"
    np.save(grey, np.full((30, 4), 0.5, np.float32))
    for argv, message in [
        (["train", "--data", str(garbage)], "cannot read"),
        (["train", "--data", str(two)], "holds 2 arrays (a, b); pick the data with --key"),
        (["train", "--data", str(two), "--key", "c"], "has no array 'c'"),
        (["train", "--data", str(grey), "--output", str(tmp_path / "o")], "binary"),
        (["evaluate", str(garbage), "--data", "digits"], "is unreadable (truncated or corrupted)"),
    ]:
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # the advice names flags, not the library's functions
    cli.main(["train", "--data", str(grey), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "--binarize THRESHOLD" in err and "--model gaussian-rbm" in err
    assert "binarize_threshold" not in err
    with pytest.raises(ValueError, match="binary"):  # --debug shows the real error
        cli.main(["train", "--debug", "--data", str(grey), "--output", str(tmp_path / "o")])


def test_held_out_must_differ_from_the_training_data(tmp_path, capsys):
    # issue 26: --held-out mnist.npz reused x_train, and the free-energy gap was exactly 0
    rng = np.random.default_rng(0)
    data = (rng.random((20, 4)) < 0.5).astype(np.float32)
    archive = tmp_path / "data.npz"
    np.savez(archive, x_train=data, x_test=data[:10], x_copy=data)
    common = ["train", "--data", str(archive), "--key", "x_train", "--output", str(tmp_path)]
    for extra, message in [
        (["--held-out", str(archive)], "names the training array itself (x_train); pick the"),
        (["--held-out", str(archive), "--held-out-key", "x_copy"], "are identical to the training"),
    ]:
        assert cli.main([*common, *extra]) == 1
        assert message in capsys.readouterr().err
    assert "--held-out-key needs --held-out" in _usage_error(
        [*common, "--held-out-key", "x_test"], capsys
    )


def test_gaussian_data_far_from_unit_scale_warn_with_numbers():
    from numpyro_ebm.cli._common import apply_standardization, scale_warning, standardize

    rng = np.random.default_rng(0)
    pixels = np.floor(rng.random((50, 6)) * 256).astype(np.float32)  # raw 0-255 values
    message = scale_warning(pixels)
    assert "--standardize" in message and "values from 0 to 255" in message
    assert f"standard deviation {np.std(pixels):.4g}" in message
    assert scale_warning(pixels / 255.0) is None
    scaled, stats = standardize(pixels)
    np.testing.assert_allclose(scaled.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(0), 1.0, atol=1e-5)
    assert scale_warning(scaled) is None
    np.testing.assert_array_equal(apply_standardization(pixels, stats), scaled)


@pytest.mark.slow  # AIS, RAISE and the metrics compile ~90 programs (20 s on a shared CPU)
def test_evaluate_warns_when_the_ais_interval_means_little(tmp_path, capsys):
    # issue 26: an interval of [-inf, 298.01] was printed as a result, without a word.
    # Weights of +-8 and 3 temperatures: the log weights spread by ~27 nats, so one of
    # the 20 runs dominates (no warning in 0 of 1000 seeds tried: false failures < 0.3%)
    rng = np.random.default_rng(0)
    weights = rng.choice([-8.0, 8.0], size=(16, 3)).astype(np.float32)
    directory = tmp_path / "checkpoint"
    directory.mkdir()
    meta = {"epoch": 1, "history": {}, "n_leaves": 3,
            "config": {"model": "bernoulli-rbm", "n_visible": 16, "hidden": [3]}}  # fmt: skip
    np.savez(
        directory / "checkpoint.npz",
        leaf_00000=weights,
        leaf_00001=np.zeros(16, np.float32),
        leaf_00002=np.zeros(3, np.float32),
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
    )
    np.save(tmp_path / "x.npy", (rng.random((40, 16)) < 0.5).astype(np.float32))
    argv = ["evaluate", str(directory), "--data", str(tmp_path / "x.npy"), "--method", "ais",
            "--ais-runs", "20", "--ais-temperatures", "3", "--no-progress"]  # fmt: skip
    assert cli.main([*argv, "--raise-images", "25", "--json", str(tmp_path / "e.json")]) == 0
    captured = capsys.readouterr()
    assert "warning: the AIS estimate is unreliable" in captured.err
    assert "more AIS runs (--ais-runs) or more temperatures (--ais-temperatures)" in captured.err
    # RAISE on a random subset, said so (MNIST's 10,000 rows took about 9 minutes)
    assert "RAISE on a random 25 of the 40 rows (--raise-images all" in captured.out
    assert json.loads((tmp_path / "e.json").read_text())["raise_images"] == 25
    assert cli.build_parser().parse_args(argv).raise_images == "500"  # the default
    assert "--raise-images takes a number" in _usage_error([*argv, "--raise-images", "x"], capsys)


def test_warnings_are_one_line_in_the_commands_terms(capsys):
    import warnings

    from numpyro_ebm.cli._common import warnings_as_lines
    from numpyro_ebm.learning import MixingWarning
    from numpyro_ebm.learning.history import mixing_message

    with warnings_as_lines("train"), warnings.catch_warnings():
        warnings.simplefilter("always", MixingWarning)
        warnings.warn(MixingWarning(mixing_message(3, 1.52)), stacklevel=1)
    err = capsys.readouterr().err
    assert err.startswith("numpyro-ebm train: warning: epoch 3: the persistent chains'")
    assert len(err.strip().splitlines()) == 1 and "(MixingWarning)" in err
    assert "(-k)" in err and "(--chains)" in err and "(--rule fpcd)" in err
    assert "learning.fpcd" not in err and __file__ not in err and "warnings.warn" not in err


def test_sample_draws_the_same_chains_with_and_without_a_progress_bar():
    import jax

    from numpyro_ebm.cli import compare, sample
    from numpyro_ebm.cli._common import CommandError

    params = bernoulli_rbm.init_params(jax.random.key(0), 5, 3, weight_scale=1.0)
    key = jax.random.key(1)
    quiet = sample.draw("bernoulli-rbm", params, "gibbs", key, 4, 7)
    chunked = sample.draw("bernoulli-rbm", params, "gibbs", key, 4, 7, progress=True)
    for a, b in zip(quiet, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CommandError, match="hmc cannot sample a bernoulli-rbm; choose from block"):
        compare._chosen({"block Gibbs": None}, ["hmc"], "bernoulli-rbm")


def test_training_that_does_not_describe_the_data_is_not_reported_as_fine():
    from numpyro_ebm.cli.train import energy_gap_warning

    # issue 26: a gaussian-rbm on raw pixels ended with energies 742,197 (data) and 344
    # (samples) and printed only "trained 1 epoch"
    raw = {"positive_energy": [9e5, 742196.6], "negative_energy": [300.0, 344.1]}
    message = energy_gap_warning(raw, "gaussian-rbm")
    assert "742197" in message and "344.1" in message and "nearly constant" in message
    fine = {"positive_energy": [-19.0], "negative_energy": [-20.0]}
    assert energy_gap_warning(fine, "bernoulli-rbm") is None
    assert energy_gap_warning({}, "dbm") is None


def _fake_checkpoint(directory, config):
    """A checkpoint in ``fit``'s format (parameters only), without training anything."""
    directory.mkdir(parents=True)
    meta = {"epoch": 1, "history": {}, "config": config, "n_leaves": 3}
    np.savez(
        directory / "checkpoint.npz",
        leaf_00000=np.zeros((64, 3), np.float32),
        leaf_00001=np.zeros(64, np.float32),
        leaf_00002=np.zeros(3, np.float32),
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
    )


def test_resume_and_reading_refuse_other_models(tmp_path, capsys):
    config = {"model": "bernoulli-rbm", "n_visible": 64, "hidden": [3], "rule": "pcd"}
    _fake_checkpoint(tmp_path / "run" / "checkpoint", config)
    argv = ["train", "--output", str(tmp_path / "run"), "--resume", "--hidden", "4"]
    assert cli.main(argv) == 1
    assert "trained with other settings (hidden: [3] -> [4])" in capsys.readouterr().err
    _fake_checkpoint(tmp_path / "other", {"n_hidden": 3})
    assert cli.main(["sample", str(tmp_path / "other"), "--output", str(tmp_path / "s")]) == 1
    assert "does not say which model it holds" in capsys.readouterr().err


def test_csv_columns_by_index_range_and_name(tmp_path):
    from numpyro_ebm.cli._common import CommandError, load_array

    path = tmp_path / "table.csv"
    path.write_text("id,a,b,c\n1,0,1,0\n2,1,1,0\n")
    np.testing.assert_array_equal(load_array(path, columns="1:"), [[0, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(load_array(path, columns="a,c"), [[0, 0], [1, 0]])
    np.testing.assert_array_equal(load_array(path, columns="0,-1"), [[1, 0], [2, 0]])
    with pytest.raises(CommandError, match="no column named 'd'; the columns are id, a, b, c"):
        load_array(path, columns="d")


# --------------------------------------------------------------------------------------
# Every command end to end, in subprocesses, on tiny data: one chain of runs
# --------------------------------------------------------------------------------------


_INTERRUPTIBLE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from numpyro_ebm.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _command(*args) -> list[str]:
    return [sys.executable, "-m", "numpyro_ebm.cli", *map(str, args)]


def _run(*args, cwd):
    result = subprocess.run(
        _command(*args), cwd=cwd, capture_output=True, text=True, env=_ENV, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


_ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_train_interrupt_resume_evaluate_sample(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = (rng.random((60, 9)) < 0.4).astype(np.float32)
    np.savez(tmp_path / "data.npz", x_train=data[:40], x_test=data[40:])
    train = [
        "train", "--data", "data.npz", "--key", "x_train", "--hidden", "3", "--chains", "10",
        "--batch-size", "10", "--output", "run", "--no-progress", "--no-plots",
        "--held-out", "data.npz", "--held-out-key", "x_test",
    ]  # fmt: skip

    # Ctrl-C during training keeps the last completed epoch's checkpoint and says how to resume
    process = subprocess.Popen(
        # Ctrl-C as in a terminal, even when pytest itself runs with SIGINT ignored (a
        # background job of a shell without job control inherits it ignored)
        [sys.executable, "-c", _INTERRUPTIBLE, *_command(*train, "--epochs", 100_000)[3:]],
        cwd=tmp_path,
        env=_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / "run" / "checkpoint" / "checkpoint.npz"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command with --resume" in err and "Traceback" not in err
    _, meta = load_checkpoint(checkpoint)
    stopped = meta["epoch"]
    assert 1 <= stopped < 100_000

    # --resume continues to the new total with the checkpoint's settings (the data, model,
    # rule and batch size are not retyped); a config file and flags override them
    (tmp_path / "run.toml").write_text('[training]\nrule = "pcd"\nepochs = 1\n')
    resume = ["train", "--output", "run", "--resume", "--config", "run.toml", "--no-plots",
              "--no-progress", "--epochs", stopped + 2]  # fmt: skip
    printed = _run(*resume, cwd=tmp_path)
    shown = printed.splitlines()[0]
    assert shown.startswith("settings from the checkpoint: ")
    for flag in ("--hidden 3", "--chains 10", "--batch-size 10", "--key x_train",
                 "--held-out-key x_test", f"--data {tmp_path.resolve() / 'data.npz'}"):  # fmt: skip
        assert flag in shown, (flag, shown)
    assert f"trained 2 epochs (epochs {stopped + 1}-{stopped + 2})" in printed
    _, meta = load_checkpoint(checkpoint)
    assert meta["epoch"] == stopped + 2 and meta["config"]["hidden"] == [3]
    assert meta["config"]["batch_size"] == 10 and meta["config"]["chains"] == 10
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 1 + stopped + 2
    # --held-out-key: the held-out rows are x_test, not x_train again (a gap of exactly 0)
    gap = history[0].split(",").index("free_energy_gap")
    assert all(float(row.split(",")[gap]) != 0.0 for row in history[1:])

    # nothing left to do: said so, and nothing is trained or rewritten
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert cli.main([*map(str, resume)]) == 0
    assert "nothing to train" in capsys.readouterr().out

    # sample: a progress bar, the means as well as the states, and no silent overwrite
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        argv = ["sample", "run/checkpoint", "--sweeps", "20", "--save-means", "--output", "plain"]
        assert cli.main(argv) == 0
        assert "gibbs sweeps" in capsys.readouterr().err  # tqdm's bar
        with np.load(tmp_path / "plain" / "samples.npz") as out:
            states, means = out["samples"], out["means"]
        assert states.shape == means.shape == (64, 9) and set(np.unique(states)) <= {0.0, 1.0}
        assert np.all((means > 0) & (means < 1))
        assert "plain/samples.npz exists; pass --overwrite" in _usage_error(argv, capsys)

    # AIS agrees with the exact log-likelihood on this 9-3 RBM
    _run(
        "evaluate", "run/checkpoint", "--data", "data.npz", "--key", "x_test", "--method", "ais",
        "--ais-runs", 50, "--ais-temperatures", 300, "--json", "eval.json", "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    result = json.loads((tmp_path / "eval.json").read_text())
    leaves, _ = load_checkpoint(checkpoint)
    params = bernoulli_rbm.BernoulliRBMParams(*(jnp.asarray(a) for a in leaves[:3]))
    exact_ll = float(np.mean(exact.log_likelihood_bernoulli_rbm(params, jnp.asarray(data[40:]))))
    assert result["method"] == "ais" and abs(result["log_likelihood"] - exact_ll) < 0.05
    assert np.isfinite(result["log_likelihood_raise"]) and result["reconstruction_error"] > 0

    # clamped sampling keeps the observed units and fills the missing ones
    partial = data[40:43].copy()
    partial[:, 5:] = np.nan
    np.save(tmp_path / "partial.npy", partial)
    _run("sample", "run/checkpoint", "--clamp", "partial.npy", "--sweeps", 20, "--image-shape", "3x3",
         "--output", "filled", cwd=tmp_path)  # fmt: skip
    with np.load(tmp_path / "filled" / "samples.npz") as out:
        samples, mean = out["samples"], out["mean"]
    assert samples.shape == (10, 3, 9)
    np.testing.assert_array_equal(samples[..., :5], np.broadcast_to(partial[:, :5], (10, 3, 5)))
    assert np.all((mean[:, 5:] > 0) & (mean[:, 5:] < 1))
    assert (tmp_path / "filled" / "samples.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # NumPyro's DiscreteHMCGibbs compiles for seconds; the fast suite has no room
def test_compare_on_a_built_in_target(tmp_path):
    out = _run("compare", "--target", "bernoulli-rbm", "--chains", 2, "--steps", 20,
               "--burn-in", 0, "--output", "compare", cwd=tmp_path)  # fmt: skip
    table = (tmp_path / "compare" / "comparison.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in table[1:]] == [
        "block Gibbs",
        "single-site Gibbs",
        "DiscreteHMCGibbs",
        "GWG",
        "locally balanced",
        "PAS",
        "Hamming ball",
        "DMALA",
        "DULA",
    ]
    assert "DMALA step size" in out and "tuned to acceptance 0.55" in out
    assert "exact: energy =" in out and (tmp_path / "compare" / "comparison.png").exists()


@pytest.mark.slow
@pytest.mark.standard_promotion  # optax.adam
def test_gaussian_rbm_and_dbm_through_every_command(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "data.npz",
        binary=(rng.random((60, 9)) < 0.4).astype(np.float32),
        real=rng.normal(size=(60, 3)).astype(np.float32),
    )
    data = str(tmp_path / "data.npz")
    common = ["--chains", "10", "--batch-size", "10", "--epochs", "2", "--no-progress"]
    gb, dbm = str(tmp_path / "gb"), str(tmp_path / "dbm")
    assert cli.main(["train", "--data", data, "--key", "real", "--model", "gaussian-rbm",
                     "--hidden", "2", "--rule", "cd", "--output", gb, *common]) == 0  # fmt: skip
    # raw 0-255 values: a warning with the numbers; --standardize trains at unit scale and
    # evaluate applies the training data's shift and scale
    np.save(tmp_path / "pixels.npy", np.floor(rng.random((60, 3)) * 256).astype(np.float32))
    raw = ["train", "--data", str(tmp_path / "pixels.npy"), "--model", "gaussian-rbm",
           "--hidden", "2", "--rule", "cd", *common]  # fmt: skip
    assert cli.main([*raw, "--output", str(tmp_path / "raw")]) == 0
    assert "warning: the data have mean" in capsys.readouterr().err
    assert cli.main([*raw, "--standardize", "--output", str(tmp_path / "std")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "std" / "checkpoint"), "--data",
                     str(tmp_path / "pixels.npy")]) == 0  # fmt: skip
    assert "standardized as in training" in capsys.readouterr().out
    assert cli.main(["sample", f"{gb}/checkpoint", "--kernel", "hmc", "--step-size", "0.1",
                     "--sweeps", "20", "--output", f"{gb}/s"]) == 0  # fmt: skip
    assert cli.main(["evaluate", f"{gb}/checkpoint", "--data", data, "--key", "real",
                     "--json", f"{gb}/e.json"]) == 0  # fmt: skip
    assert np.isfinite(json.loads(Path(f"{gb}/e.json").read_text())["log_likelihood"])
    assert cli.main(["compare", f"{gb}/checkpoint", "--chains", "2", "--steps", "20",
                     "--burn-in", "0", "--output", f"{gb}/c", "--no-plots",
                     "--samplers", "mala,hmc"]) == 0  # fmt: skip
    assert "samplers" in capsys.readouterr().err  # the progress bar
    table = Path(f"{gb}/c/comparison.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in table[1:]] == ["MALA", "HMC"]
    assert not Path(f"{gb}/c/exact_moments.json").exists()  # 3 visible units: none known
    assert cli.main(["train", "--data", data, "--key", "binary", "--model", "dbm",
                     "--hidden", "3", "2", "--output", dbm, *common]) == 0  # fmt: skip
    for method in ("exact", "ais"):
        assert cli.main(["evaluate", f"{dbm}/checkpoint", "--data", data, "--key", "binary",
                         "--method", method, "--ais-runs", "20", "--ais-temperatures", "300",
                         "--no-progress", "--json", f"{dbm}/{method}.json"]) == 0  # fmt: skip
    exact_run, ais_run = (json.loads(Path(f"{dbm}/{m}.json").read_text()) for m in ("exact", "ais"))
    assert exact_run["log_likelihood_lower_bound"] <= exact_run["log_likelihood"] + 1e-6
    assert abs(ais_run["log_partition_function"] - exact_run["log_partition_function"]) < 0.1
    assert cli.main(["sample", f"{dbm}/checkpoint", "--sweeps", "20", "--output", f"{dbm}/s"]) == 0
    with np.load(f"{dbm}/s/samples.npz") as out:
        assert out["samples"].shape == (64, 9) and set(np.unique(out["samples"])) <= {0.0, 1.0}
