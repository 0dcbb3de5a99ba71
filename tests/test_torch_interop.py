"""rnnlm export / import and rnnlm.torch: the same function on both sides, round trips to the
bit, a word_language_model-style model trained in PyTorch evaluated by rnnlm, bad files in one
line. Needs PyTorch (skipped without it); the DDP example is a slow test."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, cli_env, run_cli

import rnnlm
from rnnlm import LanguageModel, Vocabulary, save
from rnnlm.interop import read

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402

from rnnlm.torch import RNNLM  # noqa: E402

WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran"]


def trained_like(cell, layers, tied, seed=0):
    """A small float32 model with every parameter (biases too) away from zero, and settings
    of every kind (a rate of its own at one place, the others following --dropout)."""
    return LanguageModel(len(WORDS), cell=cell, num_layers=layers, embed_size=6,
                         hidden_size=6, tie_weights=tied, init_scale=0.5, dropout=0.1,
                         dropout_out=0.3, weight_drop=0.2, seed=seed)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("tied", [False, True])
def test_pytorch_computes_the_same_logits_and_the_round_trip_is_exact(tmp_path, cell, layers,
                                                                      tied):
    model = trained_like(cell, layers, tied)
    vocab = Vocabulary(WORDS, "word")
    save(tmp_path / "m.npz", model, vocab)
    layout = "rnnlm" if cell == "gru" else "torch"
    rnnlm.export_torch(tmp_path / "m.npz", tmp_path / "m.safetensors", layout)
    module = RNNLM.from_safetensors(tmp_path / "m.safetensors").eval()     # no dropout
    ids = np.random.default_rng(1).integers(0, len(WORDS), (3, 7))    # (B, T)
    ours = model.eval().forward(ids)                                   # (B, T, V)
    with torch.no_grad():
        theirs, _ = module(torch.as_tensor(ids.T.copy()))              # time-major
    np.testing.assert_allclose(theirs.numpy().transpose(1, 0, 2), ours, atol=1e-5, rtol=0)

    rnnlm.import_torch(tmp_path / "m.safetensors", tmp_path / "back.npz")
    back = rnnlm.load(tmp_path / "back.npz")
    assert back.vocab == vocab and back.model.config == model.config
    assert back.model.params.keys() == model.params.keys()
    for name, value in model.params.items():
        assert back.model.params[name].dtype == value.dtype
        assert np.array_equal(back.model.params[name], value), name

    module.save_safetensors(tmp_path / "again.safetensors")          # the module's own way
    config, params, again_vocab = read(tmp_path / "again.safetensors")
    assert config == model.config and again_vocab == vocab
    assert all(np.array_equal(params[k], v) for k, v in model.params.items())


def test_the_torch_layout_is_word_language_models(tmp_path):
    model = trained_like("lstm", 2, False)
    save(tmp_path / "m.npz", model, Vocabulary(WORDS, "word"))
    run_cli("export", tmp_path / "m.npz", tmp_path / "m.safetensors", cwd=tmp_path)
    from safetensors import safe_open
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as f:
        names, meta = set(f.keys()), f.metadata()
        lstm = torch.nn.LSTM(6, 6, 2)
        lstm.load_state_dict({k[4:]: f.get_tensor(k) for k in names if k.startswith("rnn.")})
    assert names == {"encoder.weight", "decoder.weight", "decoder.bias"} | {
        f"rnn.{w}_l{k}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for k in (0, 1)}
    assert json.loads(meta["vocab"]) == WORDS and meta["cell"] == "lstm"
    # PyTorch's [i, f, g, o]: its input gate's rows are our second block
    W = lstm.weight_ih_l0.detach().numpy()
    assert np.array_equal(W[:6], model.params["lstm0.Wx"][:, 6:12].T)
    gru = trained_like("gru", 1, False)
    save(tmp_path / "g.npz", gru, Vocabulary(WORDS, "word"))
    refused = run_cli("export", tmp_path / "g.npz", tmp_path / "g.safetensors", cwd=tmp_path,
                      check=False)
    assert refused.returncode == 2 and "--layout rnnlm" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and not (tmp_path / "g.safetensors").exists()


class WordLanguageModel(torch.nn.Module):
    """PyTorch's word_language_model RNNModel (LSTM, untied), as users have it."""

    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = torch.nn.Embedding(ntoken, ninp)
        self.rnn = torch.nn.LSTM(ninp, nhid, nlayers)
        self.decoder = torch.nn.Linear(nhid, ntoken)

    def forward(self, x, hidden=None):
        out, hidden = self.rnn(self.encoder(x), hidden)
        return self.decoder(out), hidden


def test_a_model_trained_in_pytorch_evaluates_in_rnnlm_to_pytorchs_perplexity(tmp_path):
    lines = (REPO / "corpora/jenny/jenny.valid.txt").read_text().splitlines()[:60]
    # word_language_model's Dictionary: words in order of appearance, <eos> after each line,
    # so the specials are not first; no <unk> in its text, so one is appended
    idx2word = []
    for line in lines:
        for w in line.split() + ["<eos>"]:
            if w not in idx2word:
                idx2word.append(w)
    idx2word.append("<unk>")
    word2idx = {w: i for i, w in enumerate(idx2word)}
    ids = torch.tensor([word2idx[w] for line in lines for w in line.split() + ["<eos>"]])
    torch.manual_seed(0)
    net = WordLanguageModel(len(idx2word), 16, 16, 2)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    data = ids[: len(ids) // 4 * 4].view(4, -1).t()
    for start in range(0, 100, 20):                       # a few steps of training
        x, y = data[start:start + 20], data[start + 1:start + 21]
        logits, _ = net(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(idx2word)),
                                                 y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():                                 # one stream from a zero state
        logits, _ = net(ids[:-1, None])
        nll = torch.nn.functional.cross_entropy(logits[:, 0].double(), ids[1:]).item()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / "wlm.safetensors"))
    (tmp_path / "idx2word.txt").write_text("\n".join(idx2word) + "\n")
    (tmp_path / "text.txt").write_text("\n".join(lines) + "\n")
    run_cli("import", tmp_path / "wlm.safetensors", tmp_path / "wlm.npz", "--vocab",
            tmp_path / "idx2word.txt", cwd=tmp_path)
    assert rnnlm.load(tmp_path / "wlm.npz").vocab.tokens[:2] == ("<unk>", "<eos>")
    out = run_cli("eval", tmp_path / "wlm.npz", tmp_path / "text.txt", "--batch-size", "1",
                  "--json", "--no-log", cwd=tmp_path).stdout
    assert json.loads(out)["ppl"] == pytest.approx(math.exp(nll), rel=1e-4)


@pytest.mark.parametrize("cell, layout", [("lstm", "torch"), ("rnn", "torch"),
                                          ("lstm", "rnnlm"), ("gru", "rnnlm")])
def test_an_adaptive_softmax_travels_as_pytorchs_adaptive_log_softmax(tmp_path, cell, layout):
    """Exported as nn.AdaptiveLogSoftmaxWithLoss's tensors (or rnnlm's names), run by
    rnnlm.torch to the same log-probabilities, imported back to the bit, cutoffs and all."""
    model = LanguageModel(len(WORDS), cell=cell, num_layers=2, embed_size=6, hidden_size=17,
                          softmax="adaptive", cutoffs=(4, 7), init_scale=0.5, dropout=0.1,
                          seed=2)
    vocab = Vocabulary(WORDS, "word")
    save(tmp_path / "m.npz", model, vocab)
    run_cli("export", tmp_path / "m.npz", tmp_path / "m.safetensors", "--layout", layout,
            cwd=tmp_path)
    module = RNNLM.from_safetensors(tmp_path / "m.safetensors").eval()
    assert isinstance(module.decoder, torch.nn.AdaptiveLogSoftmaxWithLoss)
    ids = np.random.default_rng(1).integers(0, len(WORDS), (3, 7))
    ours = model.eval().forward(ids)
    with torch.no_grad():
        theirs, _ = module(torch.as_tensor(ids.T.copy()))
    np.testing.assert_allclose(theirs.numpy().transpose(1, 0, 2), ours, atol=1e-5, rtol=0)

    run_cli("import", tmp_path / "m.safetensors", tmp_path / "back.npz", cwd=tmp_path)
    back = rnnlm.load(tmp_path / "back.npz")
    assert back.model.config == model.config and back.model.config.cutoffs == (4, 7)
    assert back.model.params.keys() == model.params.keys()
    for name, value in model.params.items():
        assert np.array_equal(back.model.params[name], value), name
    module.save_safetensors(tmp_path / "again.safetensors")
    config, params, _ = read(tmp_path / "again.safetensors")
    assert config == model.config
    assert all(np.array_equal(params[k], v) for k, v in model.params.items())


def test_an_adaptive_softmax_trained_in_pytorch_imports_with_its_cutoffs(tmp_path):
    """word_language_model with nn.AdaptiveLogSoftmaxWithLoss as its decoder (no head bias,
    PyTorch's default): the cutoffs come from the shapes, the perplexity is PyTorch's."""
    torch.manual_seed(0)
    net = WordLanguageModel(len(WORDS), 8, 16, 1)
    net.decoder = torch.nn.AdaptiveLogSoftmaxWithLoss(16, len(WORDS), [3, 6], div_value=4.0)
    ids = torch.randint(0, len(WORDS), (40,))
    with torch.no_grad():
        out, _ = net.rnn(net.encoder(ids[:-1, None]))
        nll = -net.decoder.log_prob(out[:, 0]).double().gather(1, ids[1:, None]).mean().item()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / "wlm.safetensors"))
    (tmp_path / "idx2word.txt").write_text("\n".join(WORDS) + "\n")
    run_cli("import", tmp_path / "wlm.safetensors", tmp_path / "wlm.npz", "--vocab",
            tmp_path / "idx2word.txt", cwd=tmp_path)
    model = rnnlm.load(tmp_path / "wlm.npz").model
    assert model.config.softmax == "adaptive" and model.config.cutoffs == (3, 6)
    assert not model.params["head.b"].any()
    x = ids.numpy()
    loss = model.eval().forward(x[None, :-1], x[None, 1:])
    assert loss == pytest.approx(nll, rel=1e-5)
    # an adaptive softmax's clusters are fixed by the ids: no moving the specials to the front
    (tmp_path / "idx2word.txt").write_text("\n".join(WORDS[2:] + WORDS[:2]) + "\n")
    proc = run_cli("import", tmp_path / "wlm.safetensors", tmp_path / "moved.npz", "--vocab",
                   tmp_path / "idx2word.txt", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert "clusters are fixed by the ids" in proc.stderr


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b"\x80\x04\x95 pickled"), ["pickled PyTorch file", "safetensors"]),
    (lambda p: p.write_bytes(b"PK\x03\x04 zipped torch.save"), ["pickled PyTorch file"]),
    (lambda p: p.write_bytes(b"not a model at all"), ["not a safetensors file"]),
    (lambda p: save_file({"weight": torch.ones(2, 2)}, str(p)), ["no 'encoder.weight'"]),
    (lambda p: save_file(WordLanguageModel(10, 4, 4, 1).state_dict(), str(p)), ["--vocab"]),
])
def test_bad_files_are_one_line_and_exit_1(tmp_path, make, words):
    make(tmp_path / "in.safetensors")
    proc = run_cli("import", tmp_path / "in.safetensors", tmp_path / "out.npz", cwd=tmp_path,
                   check=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("rnnlm: error: ")
    assert all(w in proc.stderr for w in words), proc.stderr
    assert not (tmp_path / "out.npz").exists()


def test_a_size_mismatch_or_a_vocabulary_without_eos_is_refused(tmp_path):
    state = {k: v.contiguous() for k, v in WordLanguageModel(10, 4, 4, 1).state_dict().items()}
    state["decoder.bias"] = torch.zeros(9)
    save_file(state, str(tmp_path / "bad.safetensors"))
    (tmp_path / "v.txt").write_text("\n".join(WORDS) + "\n")
    proc = run_cli("import", tmp_path / "bad.safetensors", tmp_path / "o.npz", "--vocab",
                   tmp_path / "v.txt", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "'decoder.bias' has shape (9,)" in proc.stderr
    save_file({k: v.contiguous() for k, v in WordLanguageModel(10, 4, 4, 1).state_dict().items()},
              str(tmp_path / "ok.safetensors"))
    (tmp_path / "noeos.txt").write_text("\n".join(["<unk>"] + [f"w{i}" for i in range(9)]))
    proc = run_cli("import", tmp_path / "ok.safetensors", tmp_path / "o.npz", "--vocab",
                   tmp_path / "noeos.txt", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "no '<eos>'" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.slow
def test_the_ddp_example_trains_on_two_processes_and_imports_back(tmp_path):
    text = (REPO / "corpora/jenny/jenny.valid.txt").read_text().splitlines()[:200]
    vocab = Vocabulary(["<unk>", "<eos>", *sorted({w for line in text for w in line.split()})],
                       "word")
    model = LanguageModel(len(vocab), cell="lstm", num_layers=1, embed_size=8, hidden_size=8)
    save(tmp_path / "m.npz", model, vocab)
    (tmp_path / "train.txt").write_text("\n".join(text) + "\n")
    run_cli("export", tmp_path / "m.npz", tmp_path / "m.safetensors", cwd=tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(REPO / "examples/continue_in_pytorch.py"), str(tmp_path / "m.safetensors"),
         str(tmp_path / "train.txt"), str(tmp_path / "more.safetensors"), "--steps", "20",
         "--batch-size", "4", "--bptt", "10"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(2 processes)" in proc.stdout
    run_cli("import", tmp_path / "more.safetensors", tmp_path / "more.npz", cwd=tmp_path)
    before = rnnlm.evaluate(tmp_path / "m.npz", tmp_path / "train.txt")["ppl"]
    after = rnnlm.evaluate(tmp_path / "more.npz", tmp_path / "train.txt")["ppl"]
    assert after < before                                 # it learned, and came back


def test_a_character_model_travels_with_its_vocabulary(tmp_path):
    vocab = Vocabulary(["<unk>", "\n", " ", "a", "b", "c"], "char")
    model = LanguageModel(len(vocab), cell="rnn", num_layers=1, embed_size=4, hidden_size=5,
                          init_scale=0.5, seed=2)
    save(tmp_path / "c.npz", model, vocab)
    run_cli("export", tmp_path / "c.npz", tmp_path / "c.safetensors", cwd=tmp_path)
    run_cli("import", tmp_path / "c.safetensors", tmp_path / "back.npz", cwd=tmp_path)
    back = rnnlm.load(tmp_path / "back.npz")
    assert back.vocab == vocab and back.vocab.level == "char"
    assert all(np.array_equal(back.model.params[k], v) for k, v in model.params.items())
    bad = run_cli("import", tmp_path / "c.safetensors", tmp_path / "x.npz", "--level", "byte",
                  cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "byte" in bad.stderr and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("tied", [False, True])
def test_a_char_rnn_without_unk_imports_with_its_probabilities_unchanged(tmp_path, tied):
    # char-rnn's vocabularies have no <unk>: rnnlm adds one that no probability notices
    text = "the cat sat on the mat\nthe dog ran\n" * 3
    chars = sorted(set(text))
    torch.manual_seed(1)
    net = WordLanguageModel(len(chars), 8, 8, 2)
    if tied:
        net.decoder.weight = net.encoder.weight
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)                            # logits spread over a wide range
        ids = torch.tensor([chars.index(c) for c in text])
        logits, _ = net(ids[:-1, None])
        nll = torch.nn.functional.cross_entropy(logits[:, 0].double(), ids[1:]).item()
    state = {k: v.clone() for k, v in net.state_dict().items()}      # tied: written twice
    save_file(state, str(tmp_path / "c.safetensors"),
              metadata={"vocab": json.dumps(chars), "level": "char"})
    (tmp_path / "text.txt").write_text(text)
    rnnlm.import_torch(tmp_path / "c.safetensors", tmp_path / "c.npz")
    back = rnnlm.load(tmp_path / "c.npz")
    assert back.vocab.tokens == ("<unk>", *chars) and back.model.config.tie_weights == tied
    got = rnnlm.evaluate(back, tmp_path / "text.txt", batch_size=1)["ppl"]
    assert got == pytest.approx(math.exp(nll), rel=1e-6)
    back.model.eval()
    logp = back.model.forward(back.vocab.encode(list(text))[None])
    assert np.exp(logp[..., 0]).max() < 1e-17                        # <unk> never likely


def test_a_vocabulary_is_a_file_or_a_list_and_its_problems_name_it(tmp_path):
    net = WordLanguageModel(len(WORDS), 4, 4, 1)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / "w.safetensors"))
    given = tmp_path / "w.safetensors"
    rnnlm.import_torch(given, tmp_path / "a.npz", vocab=WORDS)
    rnnlm.import_torch(given, tmp_path / "a.npz", vocab=tuple(WORDS), force=True)   # over it
    assert rnnlm.load(tmp_path / "a.npz").vocab.tokens == tuple(WORDS)
    for words, problem in (([*WORDS[:-1], "cat"], "token 'cat' is listed twice (ids 3 and 9)"),
                           ([*WORDS[:-1], "ran "], "token 'ran ' (id 9) holds whitespace"),
                           ([*WORDS[:-1], "ran away"], "token 'ran away' (id 9) holds"),
                           ([*WORDS[:-1], ""], "token 9 is empty")):
        (tmp_path / "v.txt").write_text("\n".join(words) + "\n")
        message = one_line(run_cli("import", given, tmp_path / "o.npz", "--vocab",
                                   tmp_path / "v.txt", cwd=tmp_path, check=False), 1)
        assert f"vocabulary file '{tmp_path / 'v.txt'}': {problem}" in message
    (tmp_path / "v.txt").write_text("\n".join(WORDS[:-1]) + "\n")
    assert f"vocabulary file '{tmp_path / 'v.txt'}': the vocabulary has 9 tokens" in one_line(
        run_cli("import", given, tmp_path / "o.npz", "--vocab", tmp_path / "v.txt",
                cwd=tmp_path, check=False), 1)


def test_a_layer_with_one_bias_of_two_or_a_cell_the_shapes_deny_is_refused(tmp_path):
    (tmp_path / "v.txt").write_text("\n".join(WORDS) + "\n")
    state = {k: v.contiguous() for k, v in WordLanguageModel(10, 4, 4, 2).state_dict().items()}
    for missing in ("rnn.bias_hh_l1", "rnn.bias_ih_l0"):
        save_file({k: v for k, v in state.items() if k != missing},
                  str(tmp_path / "in.safetensors"))
        assert f"tensor '{missing}' is missing" in one_line(run_cli(
            "import", tmp_path / "in.safetensors", tmp_path / "o.npz", "--vocab",
            tmp_path / "v.txt", cwd=tmp_path, check=False), 1)
    save_file({k: v for k, v in state.items() if "bias_" not in k},       # bias=False: none
              str(tmp_path / "in.safetensors"))
    run_cli("import", tmp_path / "in.safetensors", tmp_path / "o.npz", "--vocab",
            tmp_path / "v.txt", cwd=tmp_path)
    save_file(state, str(tmp_path / "in.safetensors"))
    assert "leave out --cell rnn" in one_line(run_cli(
        "import", tmp_path / "in.safetensors", tmp_path / "x.npz", "--vocab", tmp_path / "v.txt",
        "--cell", "rnn", cwd=tmp_path, check=False), 2)


def test_every_header_length_reads_back(tmp_path):
    """A safetensors file starts with its header's length, whose first byte may be 0x80, the
    first byte of a pickle: the check for pickles must not refuse such a file."""
    for extra in range(64):                 # header lengths over a whole 256-byte cycle
        vocab = Vocabulary(["<unk>", "<eos>", *[f"w{i}" for i in range(extra + 1)]], "word")
        model = LanguageModel(len(vocab), cell="lstm", num_layers=1, embed_size=2,
                              hidden_size=2)
        save(tmp_path / f"v{extra}.npz", model, vocab)
        rnnlm.export_torch(tmp_path / f"v{extra}.npz", tmp_path / f"v{extra}.safetensors")
        assert read(tmp_path / f"v{extra}.safetensors")[2] == vocab


def test_a_tied_model_saved_by_safetensors_save_model_imports(tmp_path):
    from safetensors.torch import save_model
    net = WordLanguageModel(len(WORDS), 6, 6, 1)
    net.decoder.weight = net.encoder.weight            # tied: save_model keeps one name
    save_model(net, str(tmp_path / "tied.safetensors"))
    (tmp_path / "v.txt").write_text("\n".join(WORDS) + "\n")
    run_cli("import", tmp_path / "tied.safetensors", tmp_path / "t.npz", "--vocab",
            tmp_path / "v.txt", cwd=tmp_path)
    back = rnnlm.load(tmp_path / "t.npz")
    assert back.model.config.tie_weights
    assert np.array_equal(back.model.params["embed.W"], net.encoder.weight.detach().numpy())


def one_line(proc, code):
    assert proc.returncode == code and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("rnnlm: error: ")
    return proc.stderr


def test_odd_files_and_options_are_one_line(tmp_path):
    import torch as t
    from safetensors.torch import save_file as save_pt
    (tmp_path / "v.txt").write_text("\n".join(WORDS) + "\n")
    state = {k: v.contiguous() for k, v in WordLanguageModel(10, 4, 4, 1).state_dict().items()}

    def attempt(tensors, *options, metadata=None, code=1):
        save_pt(tensors, str(tmp_path / "in.safetensors"), metadata=metadata)
        return one_line(run_cli("import", tmp_path / "in.safetensors", tmp_path / "o.npz",
                                *options, cwd=tmp_path, check=False), code)

    assert "is BF16" in attempt({k: v.to(t.bfloat16) for k, v in state.items()})
    assert "'encoder.weight' has shape (40,)" in attempt(
        {**state, "encoder.weight": state["encoder.weight"].reshape(-1)}, "--vocab",
        tmp_path / "v.txt")
    big = {k: v.double() for k, v in state.items()}
    big["encoder.weight"][0, 0] = 1e300                      # finite in float64 only
    assert "not finite as float32" in attempt(big, "--vocab", tmp_path / "v.txt")
    assert "bidirectional" in attempt(
        {k: v.contiguous() for k, v in t.nn.LSTM(4, 4, bidirectional=True).state_dict().items()})
    meta = {"vocab": json.dumps(WORDS), "cell": "bogus"}
    assert "cell 'bogus'" in attempt(state, metadata=meta)
    assert "seed" in attempt(state, metadata={"vocab": json.dumps(WORDS),
                                              "config": json.dumps({"seed": "abc"})})
    assert "--vocab is for a file without one" in attempt(
        state, "--vocab", tmp_path / "v.txt", metadata={"vocab": json.dumps(WORDS)}, code=2)
    model = trained_like("lstm", 1, False)
    save(tmp_path / "m.npz", model, Vocabulary(WORDS, "word"))
    npz = one_line(run_cli("import", tmp_path / "m.npz", tmp_path / "x.npz", cwd=tmp_path,
                           check=False), 1)
    assert ".npz archive" in npz


def test_outputs_are_not_overwritten_without_force(tmp_path):
    model = trained_like("rnn", 1, False)
    save(tmp_path / "m.npz", model, Vocabulary(WORDS, "word"))
    run_cli("export", tmp_path / "m.npz", tmp_path / "m.safetensors", cwd=tmp_path)
    before = (tmp_path / "m.safetensors").read_bytes()
    assert "--force" in one_line(run_cli("export", tmp_path / "m.npz", tmp_path / "m.safetensors",
                                         cwd=tmp_path, check=False), 1)
    (tmp_path / "keep.npz").write_bytes(b"a trained model")
    assert "--force" in one_line(run_cli("import", tmp_path / "m.safetensors",
                                         tmp_path / "keep.npz", cwd=tmp_path, check=False), 1)
    assert (tmp_path / "keep.npz").read_bytes() == b"a trained model"
    assert "being read" in one_line(run_cli("import", tmp_path / "m.safetensors",
                                            tmp_path / "m.safetensors", "--force",
                                            cwd=tmp_path, check=False), 2)
    assert (tmp_path / "m.safetensors").read_bytes() == before
    run_cli("import", tmp_path / "m.safetensors", tmp_path / "keep.npz", "--force", cwd=tmp_path)
    assert rnnlm.load(tmp_path / "keep.npz").model.config == model.config


@pytest.mark.parametrize("min_size", [0, 10**12], ids=["MT-times-xT", "x-times-M"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_match_pytorch_autograd(cell, tied, min_size, optimizer, monkeypatch):
    # The engine's hand-written backward, checked against an independent one: PyTorch's
    # autograd on the same function, over chunks whose state is carried and not
    # differentiated, with clipping by the global norm (the tied matrix counted once), then
    # SGD on the mean loss (the untied embedding updated only in the rows a chunk touched) or
    # Adam (its bias corrections folded into one step size and one eps).
    from rnnlm import SGD, Adam, clip_grad_norm, layers

    # both arrangements of the time loops' products (chosen by the layer's size)
    monkeypatch.setattr(layers._StepProduct, "min_size", min_size)
    monkeypatch.setattr(layers._StepProduct, "min_steps", 0)

    B, T, V, lr = 3, 5, len(WORDS), 2.0
    ours = LanguageModel(V, cell=cell, num_layers=2, embed_size=6, hidden_size=6,
                         tie_weights=tied, init_scale=0.5, dtype="float64", seed=3)
    theirs = RNNLM(ours.config, WORDS).double()
    theirs.load_rnnlm_params({k: v.copy() for k, v in ours.params.items()})
    for name, param in theirs.named_parameters():
        # nn.LSTM and nn.RNN add two biases where rnnlm has one (export writes it as bias_ih
        # and zeros): the same function, but two gradients to count and step. Held at zero,
        # bias_hh leaves the parametrization rnnlm's.
        if "bias_hh" in name:
            param.requires_grad_(False)
    trained = [p for p in theirs.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt, torch_opt = SGD(lr), torch.optim.SGD(trained, lr=lr)
    else:
        opt, torch_opt = Adam(0.01), torch.optim.Adam(trained, lr=0.01)
    rng, state, clipped = np.random.default_rng(0), None, 0
    for max_norm in (10.0, 0.05, 10.0, 0.05):       # clipping idle, then acting
        x, t = (rng.integers(0, V - 2, (B, T)) for _ in range(2))   # rows V-2, V-1 never seen
        loss = ours.train().forward(x, t)
        ours.backward()
        norm = clip_grad_norm(ours.grads, max_norm, ours.grad_rows)
        opt.step(ours.params, ours.grads, ours.grad_rows)

        logits, state = theirs(torch.from_numpy(x.T.copy()), state)
        targets = torch.from_numpy(t.T.reshape(-1).copy())
        torch_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets)
        torch_opt.zero_grad(set_to_none=True)
        torch_loss.backward()
        torch_norm = torch.nn.utils.clip_grad_norm_(trained, max_norm)
        torch_opt.step()
        state = tuple(s.detach() for s in state) if cell == "lstm" else state.detach()

        assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
        assert norm == pytest.approx(torch_norm.item(), rel=1e-10)
        clipped += norm > max_norm
        after = theirs.rnnlm_params(np.float64)
        for name, value in ours.params.items():
            np.testing.assert_allclose(value, after[name], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{cell} {name}")
    assert clipped == 2

