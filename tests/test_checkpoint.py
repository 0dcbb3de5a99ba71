"""Checkpoints: exact round trips, atomic writes, and one CheckpointError for every bad file."""

import errno
import io
import json
import os
import time
import zipfile

import numpy as np
import pytest

from rnnlm import SGD, Adam, CheckpointError, LanguageModel
from rnnlm import checkpoint as ckpt
from rnnlm.data import Vocabulary
from rnnlm.files import atomic_write

TOKENS = ("<unk>", "<eos>", "the", "cat", "sat", "on", "a", "mat", "dog")
V = len(TOKENS)


def vocab(tokens=TOKENS):
    return Vocabulary(tokens, "word")


def trained(cell="lstm", tie=False, dtype="float32", optimizer=None, seed=1, **kw):
    """A small model after one training step: params moved, state carried, optimizer filled."""
    size = dict(embed_size=6, hidden_size=6) if tie else dict(embed_size=5, hidden_size=6)
    size.update(kw)
    model = LanguageModel(size.pop("vocab_size", V), cell=cell, num_layers=2, tie_weights=tie,
                          dtype=dtype, seed=seed, **size)
    x = np.random.default_rng(seed).integers(0, model.config.vocab_size, (3, 5))
    model.forward(x, np.roll(x, -1, axis=1))
    model.backward()
    optimizer = optimizer or Adam(lr=0.01)
    optimizer.step(model.params, model.grads)
    return model, optimizer


def raising(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def raw_members(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write_members(path, members):
    with open(path, "wb") as f:
        np.savez(f, **members)
    return path


def with_meta(members, **changes):
    meta = json.loads(str(members["meta"][()]))
    meta.update(changes)
    return {**members, "meta": np.array(json.dumps(meta))}


@pytest.fixture
def saved(tmp_path):
    model, opt = trained()
    return ckpt.save(tmp_path / "good.npz", model, vocab(), {"epoch": 1}, opt)


# --- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_round_trip_restores_params_vocab_meta_optimizer_and_state(tmp_path, cell, tie, dtype):
    model, adam = trained(cell, tie, dtype)
    gen = np.random.default_rng(7)
    gen.random(3)
    meta = {"epoch": 2, "step": np.int64(120), "metrics": {"val_ppl": np.float32(141.5)},
            "rng": gen.bit_generator.state, "corpus": {"sha256": "ab12", "tokens": 2**40}}
    path = ckpt.save(tmp_path / "m.npz", model, vocab(), meta, adam, {"lr": 0.01, "bptt": 35})
    loaded = ckpt.load(path)

    assert loaded.path == path and loaded.vocab == vocab()
    assert set(loaded.model.params) == set(model.params)
    assert ("out.W" in model.params) is not tie
    for name, p in model.params.items():
        assert loaded.model.params[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(loaded.model.params[name], p)
    assert loaded.config == {"model": model.config.to_dict(), "train": {"lr": 0.01, "bptt": 35}}
    assert loaded.meta["epoch"] == 2 and loaded.meta["step"] == 120
    assert loaded.meta["metrics"] == {"val_ppl": 141.5}
    assert loaded.meta["corpus"]["tokens"] == 2**40
    assert loaded.meta["format"] == ckpt.FORMAT and loaded.meta["version"] == ckpt.VERSION
    restored = np.random.default_rng()
    restored.bit_generator.state = loaded.meta["rng"]       # 128-bit ints survived the JSON
    assert restored.random() == gen.random()

    state = adam.state_dict()
    assert loaded.optimizer_state.keys() == state.keys()
    for key, value in state.items():
        np.testing.assert_array_equal(loaded.optimizer_state[key], value)

    x = np.random.default_rng(3).integers(0, V, (3, 4))
    np.testing.assert_array_equal(loaded.model.forward(x), model.forward(x))   # carried state


def test_adam_resumed_from_a_checkpoint_takes_the_same_next_step(tmp_path):
    model, adam = trained("gru")
    loaded = ckpt.load(ckpt.save(tmp_path / "m.npz", model, vocab(), optimizer=adam))
    resumed = Adam()
    resumed.load_state_dict(loaded.optimizer_state)
    for m, opt in ((model, adam), (loaded.model, resumed)):
        m.reset_state()
        x = np.arange(12).reshape(2, 6) % V
        m.forward(x, np.roll(x, 1))
        m.backward()
        opt.step(m.params, m.grads)
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.model.params[name], p)


def test_sgd_state_and_a_model_without_state_round_trip(tmp_path):
    model, sgd = trained("rnn", optimizer=SGD(0.5))
    model.reset_state()
    loaded = ckpt.load(ckpt.save(tmp_path / "m.npz", model, vocab(), optimizer=sgd))
    assert float(loaded.optimizer_state["lr"]) == 0.5
    assert loaded.model.state == [None, None]
    assert loaded.config["train"] == {} and "epoch" not in loaded.meta


def test_saved_file_holds_no_pickles_and_names_members_as_documented(saved):
    members = raw_members(saved)          # allow_pickle=False: reading any pickle would raise
    assert all(m.dtype != object for m in members.values())
    assert members["meta"].shape == () and members["meta"].dtype.kind == "U"
    assert members["vocab"].dtype.kind == "U" and tuple(members["vocab"]) == TOKENS
    assert {"param/lstm0.Wx", "param/out.W", "optim/m/lstm0.Wx", "optim/t",
            "state/0/h", "state/1/c"} <= set(members)
    meta = json.loads(str(members["meta"][()]))
    assert meta["config"]["model"]["cell"] == "lstm" and meta["vocab_level"] == "word"


def test_meta_of_a_loaded_checkpoint_can_be_passed_back_to_save(tmp_path, saved):
    first = ckpt.load(saved)
    again = ckpt.load(ckpt.save(tmp_path / "b.npz", first.model, first.vocab,
                                {**first.meta, "epoch": 2}))
    assert again.meta["epoch"] == 2 and again.meta["format"] == ckpt.FORMAT


def test_meta_that_json_cannot_hold_is_refused_clearly(tmp_path):
    model, _ = trained()
    with pytest.raises(CheckpointError, match=r"meta\['rng'\]\['key'\] is a ndarray"):
        ckpt.save(tmp_path / "m.npz", model, vocab(), {"rng": {"key": np.zeros(3)}})
    with pytest.raises(CheckpointError, match="non-string key 1"):
        ckpt.save(tmp_path / "m.npz", model, vocab(), {"ppl": {1: 2.0}})
    assert list(tmp_path.iterdir()) == []


# --- atomic writes -------------------------------------------------------------------------

def assert_still_the_first(path, model):
    loaded = ckpt.load(path)
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.model.params[name], p)
    assert [p.name for p in path.parent.iterdir()] == [path.name]       # no temp file left


def test_a_save_failing_mid_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    first, _ = trained(seed=1)
    path = ckpt.save(tmp_path / "m.npz", first, vocab())

    def half_written(f, **_):
        f.write(b"PK\x03\x04" + b"\x00" * 500)
        raise RuntimeError("interrupted")
    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(CheckpointError, match="interrupted; the previous checkpoint is intact"):
        ckpt.save(path, trained(seed=2)[0], vocab())
    assert_still_the_first(path, first)


def test_a_failing_rename_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    first, _ = trained(seed=1)
    path = ckpt.save(tmp_path / "m.npz", first, vocab())
    monkeypatch.setattr(os, "replace", raising(OSError(errno.EIO, "I/O error")))
    with pytest.raises(CheckpointError, match="I/O error; the previous checkpoint is intact"):
        ckpt.save(path, trained(seed=2)[0], vocab())
    assert_still_the_first(path, first)


class FullDisk(io.FileIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def full_disk(fd, mode):
    return io.BufferedWriter(FullDisk(fd, "w"))


def test_a_full_disk_is_one_line_naming_the_path(tmp_path, monkeypatch):
    first, _ = trained(seed=1)
    path = ckpt.save(tmp_path / "m.npz", first, vocab())
    monkeypatch.setattr(os, "fdopen", full_disk)
    with pytest.raises(CheckpointError) as err:
        ckpt.save(path, trained(seed=2)[0], vocab())
    assert str(err.value) == (f"cannot write checkpoint '{path}': No space left on device; "
                              "the previous checkpoint is intact")
    with pytest.raises(CheckpointError) as err:     # nothing there before: no "intact" claim
        ckpt.save(tmp_path / "new.npz", first, vocab())
    assert str(err.value).endswith("No space left on device")
    monkeypatch.undo()
    assert_still_the_first(path, first)


def test_an_interrupt_during_save_propagates_and_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", raising(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(tmp_path / "m.npz", trained()[0], vocab())
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_of_text_replaces_whole_or_leaves_the_old_file(tmp_path):
    path = tmp_path / "table.csv"
    assert atomic_write(path, lambda f: f.write("a,b\r\n"), newline="") == path
    assert path.read_bytes() == b"a,b\r\n"           # newline="" writes line ends as given

    def half_then(exc):
        def write(f):
            f.write("half")
            raise exc
        return write
    for exc in (ValueError("bad row"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            atomic_write(path, half_then(exc))
        assert path.read_bytes() == b"a,b\r\n" and list(tmp_path.iterdir()) == [path]
    with pytest.raises(FileNotFoundError):          # no translation: the caller words it
        atomic_write(tmp_path / "missing" / "t.csv", half_then(AssertionError()))


def test_save_removes_only_old_temporaries_of_the_same_checkpoint(tmp_path):
    old, fresh, other = (tmp_path / n for n in (".x.npz.abc.tmp", ".x.npz.def.tmp",
                                                 ".y.npz.abc.tmp"))
    for p in (old, fresh, other):
        p.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    ckpt.save(tmp_path / "x.npz", trained()[0], vocab())
    assert not old.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["x.npz"]
    assert ckpt.cleanup_stale_temporaries(tmp_path / "x.npz", max_age_s=-1) == [fresh]


def test_a_diverged_model_or_a_foreign_vocabulary_does_not_replace_a_good_checkpoint(tmp_path):
    first, _ = trained(seed=1)
    path = ckpt.save(tmp_path / "m.npz", first, vocab())
    diverged, _ = trained(seed=2)
    diverged.params["lstm1.Wh"][0, 0] = np.inf
    with pytest.raises(CheckpointError, match="param 'lstm1.Wh' is not finite"):
        ckpt.save(path, diverged, vocab())
    with pytest.raises(CheckpointError, match="the vocabulary has 8 tokens, the model 9"):
        ckpt.save(path, trained(seed=2)[0], vocab(TOKENS[:-1]))
    assert_still_the_first(path, first)


def test_saving_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(CheckpointError, match=r"directory '.*nope' does not exist"):
        ckpt.save(tmp_path / "nope" / "m.npz", trained()[0], vocab())


# --- bad files -----------------------------------------------------------------------------

def load_error(path):
    with pytest.raises(CheckpointError) as err:
        ckpt.load(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_missing_file_or_a_directory_is_reported(tmp_path):
    assert "does not exist" in load_error(tmp_path / "none.npz")
    assert "is a directory" in load_error(tmp_path)


@pytest.mark.parametrize("keep", [0, 1, 4, 30, 200, 0.5, -22, -1])    # bytes, or a fraction
def test_a_truncated_checkpoint_is_reported(tmp_path, saved, keep):
    data = saved.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: int(len(data) * keep) if keep == 0.5 else keep])
    assert "damaged" in load_error(tmp_path / "cut.npz")


def test_random_bytes_an_unrelated_npz_and_a_text_zip_are_not_checkpoints(tmp_path):
    (tmp_path / "r.npz").write_bytes(np.random.default_rng(0).bytes(5000))
    assert "not an .npz" in load_error(tmp_path / "r.npz")
    np.savez(tmp_path / "other.npz", weights=np.arange(4))
    assert "not an rnnlm checkpoint" in load_error(tmp_path / "other.npz")
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as z:
        z.writestr("notes.txt", "hello")
    assert "not an rnnlm checkpoint" in load_error(tmp_path / "t.npz")
    write_members(tmp_path / "m.npz", {"meta": np.array(json.dumps({"format": "other"}))})
    assert "not an rnnlm checkpoint" in load_error(tmp_path / "m.npz")


def test_a_checkpoint_from_a_newer_rnnlm_asks_for_an_upgrade(tmp_path, saved):
    path = write_members(tmp_path / "v2.npz", with_meta(raw_members(saved), version=2))
    assert "written by a newer rnnlm (format 2); upgrade rnnlm" in load_error(path)


@pytest.mark.parametrize("change, expected", [
    (lambda m: {**m, "param/lstm0.Wx": np.zeros((3, 4), np.float32)},
     "param 'lstm0.Wx' has shape (3, 4), expected (5, 24)"),
    (lambda m: {**m, "param/out.b": m["param/out.b"].astype(np.float64)},
     "param 'out.b' has dtype float64, expected float32"),
    (lambda m: {k: v for k, v in m.items() if k != "param/out.W"}, "param 'out.W' is missing"),
    (lambda m: {**m, "param/lstm2.b": np.zeros(24, np.float32)}, "param 'lstm2.b' is not part"),
    (lambda m: {**m, "param/lstm1.b": np.full(24, np.nan, np.float32)}, "non-finite values"),
    (lambda m: {**m, "vocab": m["vocab"][:-1]}, "vocabulary has 8 tokens, the model 9"),
    (lambda m: {**m, "vocab": np.array(["a", "b"] * 5)}, "bad vocabulary"),
    (lambda m: {**m, "state/0/h": np.zeros((3, 7), np.float32)}, "has shape (3, 7), expected"),
    (lambda m: {k: v for k, v in m.items() if k != "state/1/c"}, "layer 1 is incomplete"),
    (lambda m: {**m, "optim/m/out.W": np.zeros(3)}, "optimizer entry 'm/out.W' has shape"),
    (lambda m: {**m, "extra": np.zeros(3)}, "unexpected entry 'extra'"),
    (lambda m: {k: v for k, v in m.items() if k != "vocab"}, "bad vocabulary"),
    (lambda m: {**m, "meta": np.array("{not json")}, "unreadable 'meta'"),
    (lambda m: with_meta(m, version="1"), "bad format version '1'"),
    (lambda m: with_meta(m, config={"model": {"vocab_size": V, "cell": "transformer"}}),
     "invalid model config (--cell: unknown cell 'transformer'"),
    (lambda m: with_meta(m, config={"model": {"vocab_size": V, "colour": "red"}}),
     "invalid model config"),
    (lambda m: with_meta(m, config={"model": {"vocab_size": V, "seed": -1}}),
     "invalid model config"),
    (lambda m: with_meta(m, config={"model": {"vocab_size": 10**7, "hidden_size": 10**5}}),
     "bigger model than the file holds"),
])
def test_a_checkpoint_that_does_not_match_its_config_names_the_problem(
        tmp_path, saved, change, expected):
    path = write_members(tmp_path / "bad.npz", change(raw_members(saved)))
    assert expected in load_error(path)


class Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return open, (self.target, "w")


def pickled_checkpoint(path, target, good):
    members = raw_members(good)
    members["vocab"] = np.array([Exploit(str(target))], dtype=object)
    with open(path, "wb") as f:
        np.savez(f, **members)      # savez pickles object arrays by default
    return path


def test_a_pickled_object_array_is_refused_without_unpickling_it(tmp_path, saved):
    canary = tmp_path / "canary"
    path = pickled_checkpoint(tmp_path / "evil.npz", tmp_path / "pwned", saved)
    # The exploit is real: unpickled (as a careless loader would), the member creates a file.
    with zipfile.ZipFile(pickled_checkpoint(tmp_path / "probe.npz", canary, saved)) as z:
        with z.open("vocab.npy") as member:
            np.lib.format.read_array(member, allow_pickle=True)[0].close()
    assert canary.exists()
    assert "holds pickled objects (member 'vocab.npy'); refusing to load it" in load_error(path)
    assert not (tmp_path / "pwned").exists()


def test_forged_sizes_are_refused_before_any_allocation(tmp_path, saved):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**11,)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:     # 800 GB declared, 100 B held
        z.writestr("param/out.b.npy", header.getvalue() + bytes(100))
    assert "is not the size it declares" in load_error(tmp_path / "huge.npz")

    data = bytearray(saved.read_bytes())       # central directory claims ~4 GiB for a member
    at = data.rfind(b"PK\x01\x02")
    data[at + 24: at + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    (tmp_path / "bomb.npz").write_bytes(bytes(data))
    assert "declares 4294967280 bytes" in load_error(tmp_path / "bomb.npz")


def test_mutated_checkpoints_load_and_run_or_raise_checkpoint_error(tmp_path):
    a = ckpt.save(tmp_path / "a.npz", trained("lstm")[0], vocab(), {"epoch": 1}, Adam())
    model_b, adam_b = trained("gru", tie=True, vocab_size=V + 3, dtype="float64")
    b = ckpt.save(tmp_path / "b.npz", model_b, vocab(TOKENS + ("x", "y", "z")), {"s": 2}, adam_b)
    blobs = [a.read_bytes(), b.read_bytes()]
    zips = [zipfile.ZipFile(p) for p in (a, b)]
    members = [{i.filename: z.read(i) for i in z.infolist()} for z in zips]
    rng = np.random.default_rng(2024)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(200):
        kind = trial % 4
        src = int(rng.integers(2))
        data = bytearray(blobs[src])
        if kind == 0:                                   # flip a few random bytes
            for at in rng.integers(0, len(data), rng.integers(1, 9)):
                data[at] ^= int(rng.integers(1, 256))
        elif kind == 1:                                 # truncate
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == 2:                                 # flip bytes inside the headers
            zone = list(range(0, 200)) + list(range(len(data) - 2000, len(data)))
            for at in rng.choice(zone, rng.integers(1, 4)):
                data[at] ^= int(rng.integers(1, 256))
        else:                                           # swap members between a and b
            mixed = dict(members[src])
            for name in rng.choice(sorted(set(members[0]) | set(members[1])), 2):
                mixed.pop(name, None)
                if name in members[1 - src]:
                    mixed[name] = members[1 - src][name]
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for name, content in mixed.items():
                    z.writestr(name, content)
            data = buf.getvalue()
        path = tmp_path / f"mut{trial}.npz"
        path.write_bytes(bytes(data))
        try:
            loaded = ckpt.load(path)
        except CheckpointError as e:
            assert "\n" not in str(e)
            outcomes["refused"] += 1
        else:
            x = np.arange(6).reshape(2, 3) % loaded.model.config.vocab_size
            assert np.isfinite(loaded.model.forward(x, x))
            outcomes["loaded"] += 1
        path.unlink()
    for z in zips:
        z.close()
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 0, outcomes
