"""`rnnlm train` and `rnnlm eval` run for real on real files."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY, run_cli
from rnnlm import SGD, UsageError, load, train
from rnnlm.training import TrainingInterrupted
from rnnlm.data import load_corpus
from rnnlm.evaluation import evaluate_ids


def json_events(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def test_training_brings_perplexity_far_below_the_vocabulary_size(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--epochs", "3", "--out", tmp_path / "m.npz",
                   "--json", cwd=tmp_path)
    events = json_events(proc.stdout)
    epochs = [e for e in events if e["event"] == "epoch"]
    vocab_size = len(load(tmp_path / "m.npz").vocab)
    assert len(epochs) == 3
    assert events[-1]["event"] == "done" and events[-1]["reason"] == "epochs"
    assert epochs[-1]["valid_ppl"] < vocab_size / 8
    assert epochs[-1]["valid_ppl"] < epochs[0]["valid_ppl"]


def test_json_lines_are_the_only_stdout_and_carry_the_documented_keys(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--epochs", "1", "--out", tmp_path / "m.npz",
                   "--json", cwd=tmp_path)
    events = json_events(proc.stdout)                       # every line parses
    allowed = {"event", "epoch", "step", "tokens", "train_ppl", "valid_ppl", "lr", "grad_norm",
               "tokens_per_s", "elapsed_s", "reason", "out", "last", "run_id"}
    assert {e["event"] for e in events} == {"step", "epoch", "done"}
    assert all(set(e) <= allowed for e in events)
    steps = [e for e in events if e["event"] == "step"]
    assert [s["step"] for s in steps] == list(range(20, 20 * len(steps) + 1, 20))
    assert events[-1]["event"] == "done" and events[-1]["out"] == str(tmp_path / "m.npz")


def test_eval_of_the_saved_model_matches_the_reported_validation_perplexity(tmp_path):
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()
    (tmp_path / "c.train.txt").write_text("\n".join(lines[:1500]) + "\n")
    (tmp_path / "c.valid.txt").write_text("\n".join(lines[1500:1700]) + "\n")
    proc = run_cli("train", tmp_path, *TINY, "--epochs", "2", "--out", tmp_path / "m.npz",
                   "--json", cwd=tmp_path)
    reported = min(e["valid_ppl"] for e in json_events(proc.stdout) if e["event"] == "epoch")
    result = json.loads(run_cli("eval", tmp_path / "m.npz", tmp_path / "c.valid.txt", "--json",
                                cwd=tmp_path).stdout)
    assert set(result) == {"file", "tokens", "ppl", "unk", "unk_rate", "tokens_per_s", "run_id"}
    assert result["ppl"] == pytest.approx(reported, rel=1e-6)
    assert result["unk"] == 0


def test_resume_continues_exactly_where_it_stopped(tmp_path, small_corpus):
    settings = [*TINY, "--dropout", "0.3", "--optimizer", "adam", "--lr", "0.01"]
    run_cli("train", small_corpus, *settings, "--epochs", "2", "--out", tmp_path / "straight.npz",
            "--quiet", cwd=tmp_path)
    run_cli("train", small_corpus, *settings, "--epochs", "1", "--out", tmp_path / "split.npz",
            "--quiet", cwd=tmp_path)
    run_cli("train", small_corpus, "--epochs", "2", "--resume", tmp_path / "split.last.npz",
            "--quiet", cwd=tmp_path)
    straight, split = load(tmp_path / "straight.last.npz"), load(tmp_path / "split.last.npz")
    assert split.meta["train_state"]["epoch"] == 2
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(split.model.params[name], value, err_msg=name)
    assert straight.optimizer_state.keys() == split.optimizer_state.keys()


def test_force_makes_the_output_this_runs_even_if_it_stops_before_validating(tmp_path,
                                                                             small_corpus):
    small = dict(hidden_size=8, embed_size=8, num_layers=1, bptt=10, batch_size=8, epochs=1,
                 progress=False)
    train(small_corpus, out=tmp_path / "m.npz", cell="gru", **small)

    def interrupt_at(event):
        if event["event"] == "progress" and event["step"] == 20:
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        train(small_corpus, out=tmp_path / "m.npz", force=True, cell="lstm",
              callback=interrupt_at, **small)
    assert not (tmp_path / "m.npz").exists()          # not the GRU beside the LSTM's state
    assert load(tmp_path / "m.last.npz").config["model"]["cell"] == "lstm"


def test_step_events_after_a_resume_are_those_of_the_run_never_stopped(tmp_path, small_corpus):
    # Stopped at step 10, in the middle of a 7-step window: the step event at 14 still counts
    # steps 8 to 14 in its train_ppl, as the run that never stopped does.
    small = dict(hidden_size=8, embed_size=8, num_layers=1, bptt=10, batch_size=8, epochs=2,
                 log_every=7, progress=False, seed=1)

    def steps(events):
        return lambda e: events.append((e["step"], e["train_ppl"])) if e["event"] == "step" \
            else None

    straight, split = [], []
    train(small_corpus, out=tmp_path / "a.npz", callback=steps(straight), **small)

    def interrupt_at(event):
        steps(split)(event)
        if event["event"] == "progress" and event["step"] == 10:
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        train(small_corpus, out=tmp_path / "b.npz", callback=interrupt_at, **small)
    train(small_corpus, resume=tmp_path / "b.last.npz", callback=steps(split), **small)
    assert len(straight) > 4 and split == straight


def test_a_state_saved_before_the_window_was_saved_still_resumes():
    from rnnlm.training import TrainingState

    saved = TrainingState(step=12, window_loss=3.0, window_tokens=5, window_time=0.5).to_dict()
    older = {k: v for k, v in saved.items() if k not in TrainingState.WINDOW}
    assert TrainingState.from_dict(older) == TrainingState(step=12)
    assert TrainingState.from_dict(saved).window_tokens == 5
    for damaged in ({**saved, "stray": 1}, {k: v for k, v in saved.items() if k != "step"}):
        with pytest.raises(KeyError):
            TrainingState.from_dict(damaged)


def test_a_resume_into_its_own_output_however_the_path_is_spelled(tmp_path, small_corpus,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = dict(hidden_size=8, embed_size=8, num_layers=1, bptt=10, batch_size=8,
                 progress=False)
    train(small_corpus, out="m.npz", epochs=1, **small)
    result = train(small_corpus, resume="m.last.npz", out=tmp_path / "m.npz", epochs=2, **small)
    assert load(result.last).meta["train_state"]["epoch"] == 2


def test_resume_is_exact_with_weight_drop_word_dropout_and_averaging(tmp_path, small_corpus):
    """Interrupted by SIGINT in the middle of the averaged stretch, then resumed on the command
    line: the same parameters, optimizer state and average as a run that was never stopped."""
    settings = dict(hidden_size=24, embed_size=24, num_layers=1, bptt=10, batch_size=8,
                    dropout=0.2, dropout_out=0.4, dropout_words=0.1, weight_drop=0.3,
                    average=0.75, epochs=2, decay_on_plateau=False, progress=False)
    train(small_corpus, out=tmp_path / "straight.npz", **settings)

    def interrupt_at(event):
        if event["event"] == "progress" and event["step"] == 300:    # 278 steps an epoch
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        train(small_corpus, out=tmp_path / "split.npz", callback=interrupt_at, **settings)
    assert 0 < int(load(tmp_path / "split.last.npz").optimizer_state["average/count"]) < 300
    proc = run_cli("train", small_corpus, "--resume", tmp_path / "split.last.npz", "--json",
                   cwd=tmp_path)
    straight, split = load(tmp_path / "straight.last.npz"), load(tmp_path / "split.last.npz")
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(split.model.params[name], value, err_msg=name)
    assert straight.optimizer_state.keys() == split.optimizer_state.keys()
    for key, value in straight.optimizer_state.items():
        np.testing.assert_array_equal(split.optimizer_state[key], value, err_msg=key)
    # The last checkpoint holds the raw parameters and the average of the last 3/4 of the steps.
    steps = split.meta["train_state"]["step"]
    assert int(split.optimizer_state["average/count"]) == steps - steps // 4
    epochs = [e for e in json_events(proc.stdout) if e["event"] == "epoch"]
    assert epochs[-1]["averaged_steps"] == steps - steps // 4
    # Validation used the average, and the best model is the one validated.
    valid = load_corpus(small_corpus).valid
    model = split.model
    raw_ppl = evaluate_ids(model, valid)["ppl"]
    for name, p in model.params.items():
        p[...] = split.optimizer_state[f"average/{name}"]
    assert evaluate_ids(model, valid)["ppl"] == pytest.approx(epochs[-1]["valid_ppl"], rel=1e-6)
    assert raw_ppl != pytest.approx(epochs[-1]["valid_ppl"], rel=1e-4)
    best = load(tmp_path / "split.npz")
    assert evaluate_ids(best.model, valid)["ppl"] == pytest.approx(split.meta["best_valid_ppl"],
                                                                   rel=1e-6)


def test_random_bptt_cuts_each_epoch_afresh_scales_the_lr_and_resumes_exactly(tmp_path,
                                                                              small_corpus,
                                                                              monkeypatch):
    """With --random-bptt each step runs at the schedule's lr times its chunk's length /
    bptt (the events report the schedule's lr); the cuts differ between epochs; a run
    stopped by SIGINT in its second epoch and resumed on the command line ends with the
    parameters of a run never stopped."""
    settings = dict(hidden_size=16, embed_size=16, num_layers=1, bptt=10, batch_size=8,
                    random_bptt=True, lr=5.0, dropout=0.2, epochs=2, decay_on_plateau=False,
                    progress=False)
    step_lrs, sgd_step = [], SGD.step
    monkeypatch.setattr(SGD, "step", lambda self, *args: (step_lrs.append(self.lr),
                                                          sgd_step(self, *args)))
    events = []
    train(small_corpus, out=tmp_path / "straight.npz", callback=events.append, **settings)
    steps = [e for e in events if e["event"] == "progress"]
    widths = np.diff([0] + [e["tokens"] for e in steps]) // 8
    assert step_lrs == pytest.approx(list(5.0 * widths / 10), rel=1e-12)
    assert {e["lr"] for e in events if "lr" in e} == {5.0}
    epoch_1 = [w for w, e in zip(widths, steps) if e["epoch"] == 1]
    epoch_2 = [w for w, e in zip(widths, steps) if e["epoch"] == 2]
    assert sum(epoch_1) == sum(epoch_2) and epoch_1 != epoch_2 and len(set(epoch_1)) > 3

    def interrupt_at(event):
        if event["event"] == "progress" and event["step"] == len(epoch_1) + 7:
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        train(small_corpus, out=tmp_path / "split.npz", callback=interrupt_at, **settings)
    assert load(tmp_path / "split.last.npz").meta["train_state"]["position"] == 7
    run_cli("train", small_corpus, "--resume", tmp_path / "split.last.npz", "--quiet",
            cwd=tmp_path)
    straight, split = load(tmp_path / "straight.last.npz"), load(tmp_path / "split.last.npz")
    assert split.meta["train_state"]["step"] == len(steps)
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(split.model.params[name], value, err_msg=name)


def test_a_resume_that_lengthens_the_budget_averages_its_new_last_stretch(tmp_path,
                                                                          small_corpus):
    settings = dict(hidden_size=8, embed_size=8, num_layers=1, bptt=10, batch_size=8,
                    average=0.25, decay_on_plateau=False, progress=False)
    train(small_corpus, out=tmp_path / "m.npz", epochs=2, **settings)
    first = load(tmp_path / "m.last.npz").optimizer_state
    assert int(first["average/count"]) == 2 * 278 // 4             # 278 steps an epoch
    train(small_corpus, resume=tmp_path / "m.last.npz", epochs=4, **settings)
    # The first two epochs' average is forgotten: the new one spans the last of four epochs.
    assert int(load(tmp_path / "m.last.npz").optimizer_state["average/count"]) == 278


def test_a_resume_whose_longer_budget_starts_averaging_at_once_forgets_the_old_mean(
        tmp_path, small_corpus):
    # 2 epochs averaged over the last half, then 4: the new window (epochs 3 and 4) starts at
    # the resume, and the model is the one a 4-epoch run that never stopped writes
    settings = dict(hidden_size=8, embed_size=8, num_layers=1, bptt=10, batch_size=8,
                    average=0.5, decay_on_plateau=False, progress=False)
    train(small_corpus, out=tmp_path / "straight.npz", epochs=4, **settings)
    train(small_corpus, out=tmp_path / "m.npz", epochs=2, **settings)
    events = []
    train(small_corpus, resume=tmp_path / "m.last.npz", epochs=4, callback=events.append,
          **settings)
    assert [e for e in events if e["event"] == "warning"] == []
    assert events[-1]["event"] == "done"
    assert int(load(tmp_path / "m.last.npz").optimizer_state["average/count"]) == 2 * 278
    straight, resumed = load(tmp_path / "straight.npz"), load(tmp_path / "m.npz")
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(resumed.model.params[name], value, err_msg=name)
    assert straight.meta["averaged_steps"] == resumed.meta["averaged_steps"] == 2 * 278


def test_a_best_model_of_an_averaged_run_says_it_is_the_mean(tmp_path, small_corpus):
    settings = ["--average", "0.5", "--epochs", "1", "--no-log", "--out", tmp_path / "m.npz"]
    run_cli("train", small_corpus, *TINY, *settings, "--quiet", cwd=tmp_path)
    info = run_cli("info", tmp_path / "m.npz", cwd=tmp_path).stdout
    assert "the mean of the parameters over 139 steps (--average)" in " ".join(info.split())
    assert json.loads(run_cli("info", tmp_path / "m.npz", "--json", cwd=tmp_path).stdout)[
        "training"]["averaged_steps"] == 139                         # 278 steps of 8 x 10
    assert "averaged_steps" not in load(tmp_path / "m.last.npz").meta   # the raw parameters
    last = run_cli("info", tmp_path / "m.last.npz", cwd=tmp_path).stdout
    assert "the last step's parameters (the --average mean over 139 steps is kept for " \
        "--resume)" in " ".join(last.split())
    proc = run_cli("train", small_corpus, "--resume", tmp_path / "m.npz", "--epochs", "2",
                   "--out", tmp_path / "b.npz", "--quiet", "--no-log", cwd=tmp_path)
    assert "holds the mean of the parameters over 139 steps" in " ".join(proc.stderr.split())


def test_dropout_on_the_command_line_sets_the_places_a_config_file_sets(tmp_path, small_corpus):
    (tmp_path / "r.toml").write_text("dropout-embed = 0.5\ndropout-out = 0.4\nepochs = 1\n")
    out = tmp_path / "m.npz"
    for flags, rates in ((["--dropout", "0.1"], (0.1, 0.1, 0.1)),
                         (["--dropout", "0.1", "--dropout-out", "0.3"], (0.1, 0.1, 0.3))):
        run_cli("train", small_corpus, *TINY, "--layers", "2", "--config", tmp_path / "r.toml",
                *flags, "--out", out, "--force", "--quiet", "--no-log", "--max-time", "1s",
                cwd=tmp_path)
        assert load(out).model.config.dropout_rates == rates, flags


def test_a_resume_compares_dropout_by_the_rates_it_gives(tmp_path, small_corpus):
    run_cli("train", small_corpus, *TINY, "--dropout", "0.2", "--epochs", "1", "--out",
            tmp_path / "m.npz", "--quiet", "--no-log", cwd=tmp_path)
    last = tmp_path / "m.last.npz"
    for same in (["--dropout-embed", "0.2"], ["--dropout", "0.2", "--dropout-out", "0.2"]):
        run_cli("train", small_corpus, "--resume", last, "--epochs", "2", *same, "--out",
                tmp_path / "b.npz", "--force", "--quiet", "--no-log", cwd=tmp_path)
    proc = run_cli("train", small_corpus, "--resume", last, "--epochs", "2", "--dropout-out",
                   "0.3", "--out", tmp_path / "c.npz", "--no-log", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr == ("rnnlm: error: --dropout-out 0.3 contradicts the checkpoint, trained "
                           "with dropout 0.2/0.2/0.2 (embedding/between layers/output); leave it "
                           "out (flag or --config key) to resume\n")
    for settings, words in (({"random_bptt": True}, "--random-bptt contradicts the checkpoint, "
                             "trained with --no-random-bptt;"),
                            ({"max_vocab": 100}, "--max-vocab 100 contradicts the checkpoint, "
                             "trained with no --max-vocab;"),
                            ({"dropout": 0.3}, "--dropout sets all three places")):
        with pytest.raises(UsageError, match=re.escape(words)):
            train(small_corpus, resume=last, epochs=2, out=tmp_path / "c.npz", **settings)


def test_settings_the_model_leaves_without_effect_are_warned_of(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--variational", "--dropout-hidden", "0.3",
                   "--max-time", "1s", "--out", tmp_path / "m.npz", "--quiet", "--no-log",
                   cwd=tmp_path)                     # TINY: one layer
    assert "rnnlm: warning: --dropout-hidden 0.3 has no effect: one layer" in proc.stderr
    assert "--variational" not in proc.stderr        # a rate is set, if to no effect
    events = []
    train(small_corpus, out=tmp_path / "n.npz", hidden_size=8, embed_size=8, num_layers=2,
          variational=True, max_time=1, progress=False, callback=events.append)
    assert [e["message"] for e in events if e["event"] == "warning"] == [
        "--variational has no effect: no dropout rate is set"]


def test_an_existing_model_is_not_overwritten_without_force(tmp_path, small_corpus):
    out = tmp_path / "m.npz"
    out.write_bytes(b"precious")
    proc = run_cli("train", small_corpus, *TINY, "--epochs", "1", "--out", out, cwd=tmp_path,
                   check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("rnnlm: error:") and "--force" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    run_cli("train", small_corpus, *TINY, "--epochs", "1", "--out", out, "--force", "--quiet",
            cwd=tmp_path)
    assert load(out).model.config.hidden_size == 24


def test_config_file_settings_apply_and_flags_override_them(tmp_path, small_corpus):
    (tmp_path / "run.toml").write_text('cell = "gru"\nhidden-size = 12\nembed-size = 12\n'
                                       'layers = 1\nepochs = 1\nbatch-size = 4\n'
                                       'max-time = "2m"\n')
    run_cli("train", small_corpus, "--config", tmp_path / "run.toml", "--hidden-size", "10",
            "--out", tmp_path / "m.npz", "--quiet", cwd=tmp_path)
    config = load(tmp_path / "m.npz").config
    assert config["model"]["cell"] == "gru" and config["model"]["hidden_size"] == 10
    assert config["model"]["embed_size"] == 12 and config["train"]["batch_size"] == 4
    assert config["train"]["max_time"] == 120.0


@pytest.mark.parametrize("line, message", [
    ("embed_size = 12", "unknown setting 'embed_size' (the key is 'embed-size')"),
    ("num_layers = 1", "unknown setting 'num_layers' (the key is 'layers')"),
    ("hidden = 12", "unknown setting 'hidden'; known keys: cell, layers, "),
    ("layers = 1.5", "'layers' must be int, got 1.5; write it as TOML's int, like layers = 2"),
    ("epochs = \"2\"", "'epochs' must be int, got '2'; write it as TOML's int, like epochs = 2"),
    ("tie-weights = 1", "'tie-weights' must be bool, got 1; write it as TOML's bool, like "
     "tie-weights = true"),
    ("max-time = \"soon\"", "--max-time must be a positive duration like 90s"),
])
def test_a_config_file_takes_each_setting_by_its_one_key_and_type(tmp_path, small_corpus, line,
                                                                  message):
    (tmp_path / "run.toml").write_text(line + "\n")
    proc = run_cli("train", small_corpus, "--config", tmp_path / "run.toml", cwd=tmp_path,
                   check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("rnnlm: error: ") and message in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_train_help_shows_every_default_and_the_config_precedence(tmp_path):
    from rnnlm.config import SETTINGS
    text = run_cli("train", "--help", cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    for s in SETTINGS.values():
        assert f"--{s.key}" in text and f"[default: {s.shown}]" in text, s.key
    assert "a --config file overrides the defaults, and flags override the file" in \
        " ".join(text.split())
    assert "Examples:" in text


def test_plain_output_off_a_terminal_has_no_control_codes(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--epochs", "1", "--out", tmp_path / "m.npz",
                   cwd=tmp_path)
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "valid ppl" in proc.stdout and "saved to" in proc.stdout
    assert "validation: last 5% of lines" in proc.stdout


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_last_checkpoint_and_resume_goes_on(tmp_path, small_corpus, signum,
                                                               code):
    out = tmp_path / "m.npz"
    env_cmd = [sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY, "--epochs",
               "50", "--log-every", "1", "--json", "--out", str(out)]
    proc = subprocess.Popen(env_cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    for line in proc.stdout:                 # wait until training really runs
        if json.loads(line)["step"] >= 30:
            break
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "saved" in stderr and "Traceback" not in stderr
    last = load(tmp_path / "m.last.npz")
    stopped_at = last.meta["train_state"]["step"]
    assert stopped_at >= 30
    proc = run_cli("train", small_corpus, "--epochs", str(last.meta["train_state"]["epoch"] + 1),
                   "--resume", tmp_path / "m.last.npz", "--json", cwd=tmp_path)
    first_step = json_events(proc.stdout)[0]["step"]
    assert first_step == stopped_at + 1        # log-every 1 came back with the checkpoint


def test_a_closed_output_pipe_stops_training_with_its_state_saved(tmp_path, small_corpus):
    """`rnnlm train --json | head -1`: the reader goes away. The run stops as on a signal
    (SIGPIPE, exit 141), its state saved and resumable, one line on stderr and no traceback;
    the runs log says interrupted."""
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                             "--epochs", "50", "--log-every", "1", "--json",
                             "--out", str(tmp_path / "m.npz")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO),
                                                RNNLM_HOME=str(home)))
    read = json.loads(proc.stdout.readline())
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, stderr
    last = tmp_path / "m.last.npz"
    assert stderr.splitlines() == [f"rnnlm: warning: interrupted by SIGPIPE (the reader of its "
                                   f"output went away); saved '{last}' (continue with "
                                   f"--resume {last})"]
    stopped = load(last).meta["train_state"]
    assert read["step"] < stopped["step"] and stopped["epoch"] < 50
    runs = json_events(run_cli("runs", "--json", cwd=tmp_path, env={"RNNLM_HOME": home}).stdout)
    assert [r["status"] for r in runs] == ["interrupted"]
    proc = run_cli("train", small_corpus, "--epochs", str(stopped["epoch"] + 1), "--resume",
                   last, "--json", cwd=tmp_path)
    assert json_events(proc.stdout)[0]["step"] == stopped["step"] + 1


def test_the_default_out_names_a_corpus_file_without_its_txt(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus.name, *TINY, "--epochs", "1", "--cell", "gru",
                   cwd=tmp_path)
    out = tmp_path / "models/small-gru.npz"
    assert out.exists() and (tmp_path / "models/small-gru.last.npz").exists()
    assert "models/small-gru.npz" in proc.stdout + proc.stderr
    assert load(out).meta["corpus"]["name"] == "small.txt"     # the corpus keeps its name
