"""The adaptive softmax (--softmax adaptive --cutoffs): gradients against finite differences,
the same function as PyTorch's nn.AdaptiveLogSoftmaxWithLoss, and the commands with it
(export and import: test_torch_interop.py)."""

import json

import numpy as np
import pytest
from conftest import TINY, run_cli
from gradcheck import assert_gradients_match
from test_gradients import check_model

from rnnlm import LanguageModel, load
from rnnlm.config import ModelConfig
from rnnlm.errors import UsageError
from rnnlm.layers import AdaptiveSoftmax

B, T, H, V = 3, 5, 17, 13
CUTOFFS = (4, 8)                # head: 4 types + 2 clusters; clusters of 4 and 5 types


def adaptive_layer(rng, dtype=np.float64):
    shapes = AdaptiveSoftmax.shapes(H, V, CUTOFFS)
    params = {k: rng.uniform(-1.0, 1.0, s).astype(dtype) for k, s in shapes.items()}
    return AdaptiveSoftmax(params, CUTOFFS)


def test_parameter_shapes_follow_the_cutoffs_and_the_projections_shrink_by_four():
    assert AdaptiveSoftmax.shapes(H, V, CUTOFFS) == {
        "W": (17, 6), "b": (6,), "P0": (17, 4), "W0": (4, 4), "P1": (17, 1), "W1": (1, 5)}
    m = LanguageModel(10_000, hidden_size=200, embed_size=100, softmax="adaptive",
                      cutoffs=(2000,))
    assert {k: v.shape for k, v in m.params.items() if not k.startswith("lstm")} == {
        "embed.W": (10_000, 100), "head.W": (200, 2001), "head.b": (2001,),
        "tail0.P": (200, 50), "tail0.W": (50, 8000)}
    assert all(m.grads[k].shape == p.shape for k, p in m.params.items())


@pytest.mark.parametrize("targets", ["every cluster", "head only", "last cluster empty"])
def test_layer_gradients_match_finite_differences(targets):
    rng = np.random.default_rng(0)
    layer = adaptive_layer(rng)
    x = rng.uniform(-1.0, 1.0, (B, T, H))
    t = {"every cluster": rng.permutation(np.arange(B * T) % V),
         "head only": rng.integers(0, CUTOFFS[0], B * T),
         "last cluster empty": rng.integers(0, CUTOFFS[1], B * T)}[targets].reshape(B, T)
    # A call that reaches every cluster first: gradients it leaves must not survive the next.
    layer.forward(x, rng.permutation(np.arange(B * T) % V).reshape(B, T), with_grad=True)
    layer.backward()

    def loss():
        return layer.forward(x, t, with_grad=True)

    loss()
    dx = np.array(layer.backward())
    analytic = {**{f"param {k}": g.copy() for k, g in layer.grads.items()}, "input": dx}
    arrays = {**{f"param {k}": p for k, p in layer.params.items()}, "input": x}
    assert_gradients_match(loss, analytic, arrays)
    if targets != "every cluster":
        assert not layer.grads["W1"].any() and not layer.grads["P1"].any()


def test_evaluation_then_backward_gives_the_training_gradients():
    rng = np.random.default_rng(1)
    layer = adaptive_layer(rng)
    x, t = rng.uniform(-1, 1, (B, T, H)), rng.integers(0, V, (B, T))
    trained = layer.forward(x, t, with_grad=True)
    dx, grads = np.array(layer.backward()), {k: g.copy() for k, g in layer.grads.items()}
    assert layer.forward(x, t) == trained
    np.testing.assert_allclose(layer.backward(), dx, rtol=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(layer.grads[k], g, rtol=1e-12, err_msg=k)


def test_log_probabilities_are_a_distribution_and_give_the_loss():
    rng = np.random.default_rng(2)
    layer = adaptive_layer(rng)
    x, t = rng.uniform(-1, 1, (B, T, H)), rng.integers(0, V, (B, T))
    log_p = layer.forward(x)
    assert log_p.shape == (B, T, V)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=-1), 1.0, rtol=1e-12)
    picked = np.take_along_axis(log_p, t[..., None], axis=-1)
    assert layer.forward(x, t) == pytest.approx(-picked.mean(), rel=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_gradients_match_finite_differences(cell):
    m = LanguageModel(V, cell=cell, num_layers=2, embed_size=5, hidden_size=H, dropout=0.3,
                      dropout_words=0.2, weight_drop=0.3, variational=True, softmax="adaptive",
                      cutoffs=CUTOFFS, init_scale=0.5, dtype="float64", seed=3)
    check_model(m)


@pytest.mark.parametrize("settings, message", [
    (dict(softmax="adaptive"), "--softmax adaptive needs --cutoffs"),
    (dict(cutoffs=(4,)), "--cutoffs applies to --softmax adaptive only"),
    (dict(softmax="hierarchical"), "unknown softmax 'hierarchical'"),
    (dict(softmax="adaptive", cutoffs=(8, 4)), "must rise strictly"),
    (dict(softmax="adaptive", cutoffs=(4, 13)), "must rise strictly between 0 and the "
                                                "vocabulary size 13"),
    (dict(softmax="adaptive", cutoffs=(0,)), "must rise strictly"),
    (dict(softmax="adaptive", cutoffs=(2, 4, 6)), "need --hidden-size of at least 64"),
    (dict(softmax="adaptive", cutoffs=(4,), tie_weights=True, embed_size=17),
     "--tie-weights needs --softmax full"),
    (dict(softmax="adaptive", cutoffs="4,x"), "--cutoffs must be whole numbers"),
])
def test_bad_settings_are_refused_with_the_remedy(settings, message):
    with pytest.raises(UsageError, match=message):
        ModelConfig(V, **{"hidden_size": H, **settings})


def test_cutoffs_read_from_text_or_a_list_are_one_tuple():
    for given in ("4,8", "4 8", [4, 8], (4, 8)):
        assert ModelConfig(V, hidden_size=H, softmax="adaptive", cutoffs=given).cutoffs == (4, 8)


def test_pytorch_adaptive_softmax_computes_the_same_loss_log_probabilities_and_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = adaptive_layer(rng)
    x, t = rng.uniform(-1, 1, (B, T, H)), rng.permutation(np.arange(B * T) % V).reshape(B, T)
    peer = torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, list(CUTOFFS), div_value=4.0,
                                               head_bias=True).double()
    p = layer.params
    with torch.no_grad():
        peer.head.weight.copy_(torch.from_numpy(p["W"].T))
        peer.head.bias.copy_(torch.from_numpy(p["b"]))
        for k, (project, score) in enumerate(peer.tail):
            project.weight.copy_(torch.from_numpy(p[f"P{k}"].T))
            score.weight.copy_(torch.from_numpy(p[f"W{k}"].T))
    # time-major rows, as the layer orders them
    xt = torch.tensor(x.transpose(1, 0, 2).reshape(-1, H), requires_grad=True)
    result = peer(xt, torch.from_numpy(t.T.reshape(-1)))
    result.loss.backward()
    assert layer.forward(x, t, with_grad=True) == pytest.approx(result.loss.item(), rel=1e-12)
    dx = layer.backward()
    np.testing.assert_allclose(dx.transpose(1, 0, 2).reshape(-1, H), xt.grad.numpy(),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(layer.grads["W"], peer.head.weight.grad.numpy().T, rtol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], peer.head.bias.grad.numpy(), rtol=1e-10)
    for k, (project, score) in enumerate(peer.tail):
        np.testing.assert_allclose(layer.grads[f"P{k}"], project.weight.grad.numpy().T,
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(layer.grads[f"W{k}"], score.weight.grad.numpy().T,
                                   rtol=1e-10, atol=1e-14)
    with torch.no_grad():
        expected = peer.log_prob(xt).numpy()
    np.testing.assert_allclose(layer.forward(x).transpose(1, 0, 2).reshape(-1, V), expected,
                               rtol=1e-12, atol=1e-12)


def test_train_eval_generate_and_resume_with_the_adaptive_softmax(tmp_path, small_corpus):
    settings = [*TINY, "--softmax", "adaptive", "--cutoffs", "40,150", "--dropout", "0.2"]
    proc = run_cli("train", small_corpus, *settings, "--epochs", "2", "--out",
                   tmp_path / "straight.npz", "--json", cwd=tmp_path)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    vocab = load(tmp_path / "straight.npz").vocab
    assert len(vocab) > 150
    best = min(e["valid_ppl"] for e in events if e["event"] == "epoch")
    assert best < len(vocab) / 4
    config = load(tmp_path / "straight.npz").config["model"]
    assert config["softmax"] == "adaptive" and list(config["cutoffs"]) == [40, 150]
    # eval reads the same perplexity from the file the trainer validated on
    valid = tmp_path / "valid.txt"
    lines = small_corpus.read_text().splitlines()
    valid.write_text("\n".join(lines[len(lines) - len(lines) // 20:]) + "\n")
    result = json.loads(run_cli("eval", tmp_path / "straight.npz", valid, "--json",
                                cwd=tmp_path).stdout)
    assert result["ppl"] == pytest.approx(best, rel=1e-5)
    for how in (["--top-k", "5"], ["--top-p", "0.9"], ["--greedy"], ["--beam", "3"]):
        out = run_cli("generate", "--model", tmp_path / "straight.npz", "--seed", "Jenny has",
                      "--length", "8", *how, cwd=tmp_path).stdout
        assert out.strip()
    # resume: the same parameters as the straight run
    run_cli("train", small_corpus, *settings, "--epochs", "1", "--out", tmp_path / "split.npz",
            "--quiet", cwd=tmp_path)
    run_cli("train", small_corpus, "--epochs", "2", "--resume", tmp_path / "split.last.npz",
            "--quiet", cwd=tmp_path)
    straight, split = load(tmp_path / "straight.last.npz"), load(tmp_path / "split.last.npz")
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(split.model.params[name], value, err_msg=name)


@pytest.mark.parametrize("line", ['cutoffs = [40, 150]', 'cutoffs = "40,150"'])
def test_a_config_file_takes_cutoffs_as_a_list_or_text(tmp_path, small_corpus, line):
    (tmp_path / "run.toml").write_text(f'softmax = "adaptive"\n{line}\nepochs = 1\n')
    run_cli("train", small_corpus, *TINY, "--config", tmp_path / "run.toml", "--out",
            tmp_path / "m.npz", "--quiet", cwd=tmp_path)
    assert list(load(tmp_path / "m.npz").config["model"]["cutoffs"]) == [40, 150]


def test_cutoffs_beyond_the_corpus_vocabulary_fail_in_one_line(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--softmax", "adaptive", "--cutoffs",
                   "100000", "--out", tmp_path / "m.npz", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "the vocabulary size" in proc.stderr and not (tmp_path / "m.npz").exists()
