"""Behaviour of LanguageModel beyond its gradients: state carry, seeds, dtypes, modes, errors."""

import numpy as np
import pytest

from rnnlm import LanguageModel, UsageError
from rnnlm import model as model_module
from rnnlm.config import ModelConfig
from rnnlm.errors import RnnlmError
from rnnlm.layers import Embedding
from rnnlm.model import check_fits_memory, memory_limit

V = 11
CELLS = ("rnn", "lstm", "gru")


def small_model(cell, **kw):
    settings = dict(num_layers=2, embed_size=5, hidden_size=6, dtype="float64", seed=1)
    settings.update(kw)
    return LanguageModel(V, cell=cell, **settings)


@pytest.mark.parametrize("cell", CELLS)
def test_two_half_calls_give_the_same_outputs_as_one_call(cell):
    m = small_model(cell)
    x = np.random.default_rng(0).integers(0, V, (3, 10))
    whole = m.forward(x)
    m.reset_state()
    halves = np.concatenate([m.forward(x[:, :4]), m.forward(x[:, 4:])], axis=1)
    np.testing.assert_allclose(halves, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_reset_state_forgets_the_previous_call(cell):
    m = small_model(cell)
    x = np.random.default_rng(0).integers(0, V, (2, 4))
    first = m.forward(x)
    assert not np.allclose(m.forward(x), first)      # carried state changes the output
    m.reset_state()
    np.testing.assert_array_equal(m.forward(x), first)


@pytest.mark.parametrize("cell", CELLS)
def test_same_seed_gives_identical_parameters_and_loss(cell):
    rng = np.random.default_rng(0)
    x, t = rng.integers(0, V, (4, 7)), rng.integers(0, V, (4, 7))
    a = small_model(cell, dropout=0.5, dtype="float32", seed=42)
    b = small_model(cell, dropout=0.5, dtype="float32", seed=42)
    c = small_model(cell, dropout=0.5, dtype="float32", seed=43)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert a.forward(x, t) == b.forward(x, t)      # dropout masks come from the seed too
    assert not np.array_equal(a.params["embed.W"], c.params["embed.W"])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("tied", [False, True])
def test_float32_model_never_upcasts(cell, tied):
    m = small_model(cell, dtype="float32", embed_size=6, tie_weights=tied, dropout=0.2,
                    variational=tied)
    rng = np.random.default_rng(0)
    x, t = rng.integers(0, V, (3, 5)), rng.integers(0, V, (3, 5))
    m.forward(x, t, record_gates=True)
    m.backward()
    arrays = list(m.params.values()) + list(m.grads.values())
    arrays += [g for layer in m.gates for g in layer.values()]
    arrays += [m.out._y, m.loss_layer._z] + [layer._A for layer in m.layers]
    arrays += [d._mask for d in m.dropouts]
    arrays += [v for layer in m.layers for v in layer.state.values()]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    assert m.forward(x).dtype == np.float32
    assert m.step_logits(x[:, 0]).dtype == np.float32


def test_dropout_is_active_in_training_and_off_in_eval():
    m = small_model("lstm", dropout=0.5)
    x = np.random.default_rng(0).integers(0, V, (2, 4))
    m.train()
    a = m.forward(x)
    m.reset_state()
    b = m.forward(x)
    assert not np.allclose(a, b)
    m.eval()
    m.reset_state()
    c = m.forward(x)
    m.reset_state()
    np.testing.assert_array_equal(m.forward(x), c)


@pytest.mark.parametrize("training", [False, True])
def test_evaluating_restores_the_mode_and_on_request_the_state_even_after_an_error(training):
    m = small_model("lstm", dropout=0.5)
    m.train() if training else m.eval()
    x = np.random.default_rng(0).integers(0, V, (2, 4))
    m.forward(x)
    carried = m.state
    with pytest.raises(KeyError), m.evaluating(restore_state=True):
        assert not m.training and not any(d.training for d in m.dropouts)
        m.forward(x)
        raise KeyError("the block fails")
    assert m.training == training and all(d.training == training for d in m.dropouts)
    for saved, now in zip(carried, m.state):
        np.testing.assert_array_equal(saved["c"], now["c"])
    with m.evaluating():                # without restore_state, the block's state stays
        m.forward(x)
        moved = m.state
    assert m.training == training
    np.testing.assert_array_equal(m.state[0]["h"], moved[0]["h"])
    assert not np.array_equal(moved[0]["h"], carried[0]["h"])


@pytest.mark.parametrize("variational", [False, True])
def test_dropout_masks_scale_kept_units_and_variational_shares_over_time(variational):
    m = small_model("lstm", dropout=0.5, variational=variational)
    m.forward(np.zeros((4, 9), dtype=int))
    mask = m.dropouts[0]._mask          # time-major (T or 1, B, E)
    assert set(np.unique(mask)) <= {0.0, 2.0}
    assert mask.shape[0] == (1 if variational else 9)


def test_step_logits_continues_the_state_like_forward():
    m = small_model("gru")
    x = np.random.default_rng(0).integers(0, V, (2, 6))
    whole = m.forward(x)
    m.reset_state()
    steps = np.stack([m.step_logits(x[:, k]) for k in range(6)], axis=1)
    np.testing.assert_allclose(steps, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell,names", [("lstm", "fiogch"), ("gru", "zrnh"), ("rnn", "h")])
def test_recorded_gates_have_one_array_per_gate_and_layer(cell, names):
    m = small_model(cell)
    m.forward(np.ones((3, 4), dtype=int), record_gates=True)
    assert len(m.gates) == 2
    for layer in m.gates:
        assert sorted(layer) == sorted(names)
        assert all(a.shape == (3, 4, 6) for a in layer.values())


def test_lstm_gates_satisfy_the_cell_equations():
    m = small_model("lstm", num_layers=1)
    m.forward(np.random.default_rng(0).integers(0, V, (2, 7)), record_gates=True)
    g = m.gates[0]
    for gate in "fio":
        assert np.all((g[gate] > 0) & (g[gate] < 1))
    c_prev = np.concatenate([np.zeros_like(g["c"][:, :1]), g["c"][:, :-1]], axis=1)
    np.testing.assert_allclose(g["c"], g["f"] * c_prev + g["i"] * g["g"], atol=1e-12)
    np.testing.assert_allclose(g["h"], g["o"] * np.tanh(g["c"]), atol=1e-12)


def test_gru_gates_satisfy_the_cell_equations():
    m = small_model("gru", num_layers=1)
    m.forward(np.random.default_rng(0).integers(0, V, (2, 7)), record_gates=True)
    g = m.gates[0]
    h_prev = np.concatenate([np.zeros_like(g["h"][:, :1]), g["h"][:, :-1]], axis=1)
    np.testing.assert_allclose(g["h"], (1 - g["z"]) * h_prev + g["z"] * g["n"], atol=1e-12)


def test_sparse_embedding_gradient_equals_the_dense_one_across_steps():
    rng = np.random.default_rng(0)
    layer = Embedding(rng.normal(size=(50, 3)))
    for _ in range(4):                        # rows touched before must be cleared after
        ids = rng.integers(0, 50, (4, 6))
        dout = rng.normal(size=(4, 6, 3))
        layer.forward(ids)
        layer.backward(dout)
        dense = np.zeros((50, 3))
        np.add.at(dense, ids, dout)
        np.testing.assert_allclose(layer.grads["W"], dense, atol=1e-12)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(cell="transformer"), "unknown cell"),
    (dict(num_layers=0), "--layers"),
    (dict(hidden_size=-3), "hidden-size"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(tie_weights=True, embed_size=5, hidden_size=6), "--embed-size == --hidden-size"),
    (dict(dtype="float16"), "dtype"),
    (dict(init_scale=0.0), "init-scale"),
    (dict(dropout_hidden=1.0), "--dropout-hidden must be in"),
    (dict(dropout_words=-0.5), "--dropout-words must be in"),
    (dict(weight_drop=True), "--weight-drop must be in"),
    (dict(weight_drop="0.5"), "--weight-drop must be in"),
])
def test_bad_settings_raise_one_clear_error(kwargs, fragment):
    with pytest.raises(UsageError, match=fragment):
        LanguageModel(V, **kwargs)


def test_out_of_range_ids_and_backward_without_targets_are_refused():
    m = small_model("lstm")
    with pytest.raises(UsageError, match="outside"):
        m.forward(np.array([[0, V]]))
    m.forward(np.array([[0, 1]]))
    with pytest.raises(UsageError, match="targets"):
        m.backward()


@pytest.mark.parametrize("given,rates", [
    (dict(), [0.0, 0.0, 0.0, 0.0]),
    (dict(dropout=0.3), [0.3, 0.3, 0.3, 0.3]),
    (dict(dropout=0.3, dropout_hidden=0.1), [0.3, 0.1, 0.1, 0.3]),
    (dict(dropout_embed=0.0, dropout_out=0.5, dropout=0.2), [0.0, 0.2, 0.2, 0.5]),
])
def test_dropout_sets_every_place_and_a_place_of_its_own_wins(given, rates):
    m = LanguageModel(V, num_layers=3, **given)
    assert [d.p for d in m.dropouts] == rates      # embedding, between layers (2), output


def test_a_new_regulariser_at_zero_draws_nothing_and_changes_nothing():
    """Old checkpoints and recipes train as they did: same masks, same random stream."""
    settings = dict(cell="lstm", num_layers=2, embed_size=5, hidden_size=5, dropout=0.3)
    x = np.random.default_rng(0).integers(0, V, (3, 4))
    losses = []
    for extra in ({}, dict(weight_drop=0.0, dropout_words=0.0, dropout_hidden=0.3)):
        m = LanguageModel(V, **settings, **extra)
        losses.append((m.forward(x, x), m.rng.random()))
    assert losses[0] == losses[1]


@pytest.mark.parametrize("tied", [False, True])
def test_backward_after_an_eval_forward_gives_the_training_gradients(tied):
    """In training the loss writes the gradient during forward; after an eval-mode forward
    backward writes it when asked. Without dropout both are the same gradients, bit for bit."""
    rng = np.random.default_rng(4)
    x, t = rng.integers(0, V, (3, 5)), rng.integers(0, V, (3, 5))
    grads = []
    for mode in ("train", "eval"):
        m = small_model("lstm", tie_weights=tied, embed_size=6)
        getattr(m, mode)()
        m.forward(x, t)
        m.backward()
        grads.append({k: g.copy() for k, g in m.grads.items()})
    for name in grads[0]:
        np.testing.assert_array_equal(grads[1][name], grads[0][name])


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_cgroup_memory_limit_below_the_machines_is_the_one_training_checks(
        tmp_path, monkeypatch, version):
    """In a container the kernel kills a process past its cgroup's limit without a word:
    training refuses, in one line, a model that fits the machine but not that limit."""
    root = tmp_path / "cgroup"
    if version == "v2":
        (tmp_path / "self").write_text("0::/job\n")
        (root / "job").mkdir(parents=True)
        (root / "job/memory.max").write_text(f"{2**30}\n")
        (root / "memory.max").write_text("max\n")
    else:
        (tmp_path / "self").write_text("5:cpu,cpuacct:/job\n4:memory:/job\n0::/\n")
        (root / "memory/job").mkdir(parents=True)
        (root / "memory/job/memory.limit_in_bytes").write_text(f"{2**30}\n")
        (root / "memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    limit, where = memory_limit(root, tmp_path / "self")
    assert (limit, where) == (2**30, "the memory limit of this process's cgroup")
    assert memory_limit(tmp_path / "none", tmp_path / "none")[1] == "this machine's memory"
    assert memory_limit(tmp_path / "none", tmp_path / "none")[0] > 2**30

    monkeypatch.setattr(model_module, "memory_limit", lambda: (limit, where))
    fits, too_large = (ModelConfig(vocab_size=10_000, hidden_size=h) for h in (1000, 4000))
    check_fits_memory(fits)             # about 0.3 GiB to train
    with pytest.raises(RnnlmError, match=r"needs 4\.4 GiB to train, more than the memory "
                                         r"limit of this process's cgroup \(1\.0 GiB\)"):
        check_fits_memory(too_large)


def test_an_evaluation_between_forward_and_backward_leaves_no_loss_to_differentiate(tmp_path):
    """evaluate() runs forwards of its own: a backward() after it would differentiate its last
    chunk, not the caller's forward(x, t). It is refused instead; the next forward works."""
    from rnnlm import evaluate
    from rnnlm.data import Vocabulary

    vocab = Vocabulary(["<unk>", "<eos>"] + [f"w{i}" for i in range(V - 2)], "word")
    text = tmp_path / "text.txt"
    text.write_text(" ".join(f"w{i % (V - 2)}" for i in range(200)) + "\n")
    m = small_model("lstm", seed=3)
    rng = np.random.default_rng(0)
    x, t = rng.integers(0, V, (2, 4)), rng.integers(0, V, (2, 4))
    m.forward(x, t)
    evaluate(m, text, vocab=vocab)
    with pytest.raises(UsageError, match="backward"):
        m.backward()
    m.reset_state()                     # the state the first forward carried on
    m.forward(x, t)
    m.backward()
    reference = small_model("lstm", seed=3)
    reference.forward(x, t)
    reference.backward()
    for name, g in reference.grads.items():
        np.testing.assert_array_equal(m.grads[name], g)
