"""rnnlm's models as PyTorch modules, to train on where two CPU cores are not enough (needs
PyTorch; no other part of rnnlm imports it).

    from rnnlm.torch import RNNLM
    model = RNNLM.from_safetensors("lstm.safetensors")    # written by `rnnlm export`
    logits, state = model(ids)                           # ids (T, B) int64 -> (T, B, V)
    ...                                                  # train it as any nn.Module
    model.save_safetensors("lstm-more.safetensors")      # then `rnnlm import` it back

The module is PyTorch's ``word_language_model`` layout (``encoder``, ``rnn``, ``decoder``,
time-major input): nn.LSTM and nn.RNN as they are, and for the GRU ``RnnlmGRU``, rnnlm's own
function (reset gate before the recurrent product, z weighting the candidate), which nn.GRU
does not compute. Files are read and written by ``rnnlm.interop``: never pickled.
"""

import numpy as np
import torch
from torch import nn

from . import interop


class RnnlmGRU(nn.Module):
    """rnnlm's GRU over time-major input (T, B, D), stacked, per layer in rnnlm's orientation:
    ``weight_x_l{k}`` (D, 3H), ``weight_h_l{k}`` (H, 3H), ``bias_l{k}`` (3H,), packed [z, r, n]:

        z = sigmoid(x Wxz + h Whz + bz),  r = sigmoid(x Wxr + h Whr + br)
        n = tanh(x Wxn + (r * h) Whn + bn),  h' = (1 - z) * h + z * n
    """

    def __init__(self, input_size, hidden_size, num_layers, dropout=0.0):
        super().__init__()
        self.hidden_size, self.num_layers, self.dropout = hidden_size, num_layers, dropout
        for k in range(num_layers):
            D = input_size if k == 0 else hidden_size
            G = 3 * hidden_size
            self.register_parameter(f"weight_x_l{k}", nn.Parameter(torch.zeros(D, G)))
            self.register_parameter(f"weight_h_l{k}", nn.Parameter(torch.zeros(hidden_size, G)))
            self.register_parameter(f"bias_l{k}", nn.Parameter(torch.zeros(G)))

    def forward(self, x, h0=None):
        T, B, _ = x.shape
        H = self.hidden_size
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, H)
        finals = []
        for k in range(self.num_layers):
            if k:                                            # between layers, as nn.LSTM does
                x = nn.functional.dropout(x, self.dropout, self.training)
            Wx, Wh, b = (getattr(self, f"{n}_l{k}") for n in ("weight_x", "weight_h", "bias"))
            A = x @ Wx + b                                   # all steps' input projections
            h, outs = h0[k], []
            for t in range(T):
                zr = torch.sigmoid(A[t, :, : 2 * H] + h @ Wh[:, : 2 * H])
                z, r = zr[:, :H], zr[:, H:]
                n = torch.tanh(A[t, :, 2 * H :] + (r * h) @ Wh[:, 2 * H :])
                h = h + z * (n - h)
                outs.append(h)
            x = torch.stack(outs)
            finals.append(h)
        return x, torch.stack(finals)


class RNNLM(nn.Module):
    """Embedding -> stacked LSTM / RNN / rnnlm GRU -> linear, as ``word_language_model``.

    forward(ids (T, B), state=None) -> (logits (T, B, V), state); the state is what the
    recurrent module returns ((h, c) for the LSTM), to carry into the next chunk. With the
    adaptive softmax the decoder is nn.AdaptiveLogSoftmaxWithLoss and the logits are
    log-probabilities. ``vocab`` (tokens in id order), ``level`` and ``config`` (rnnlm's
    settings) come with the file.
    Dropout in training as rnnlm places it: on the embeddings, between layers and before the
    output layer, each at its rate; with ``variational`` one mask per sequence on the first
    and the last (between layers it is the recurrent module's own, a fresh mask each step).
    rnnlm's word dropout and DropConnect on Wh (--dropout-words, --weight-drop) are not
    applied here.
    """

    def __init__(self, config, vocab, level="word"):
        super().__init__()
        c = self.config = config
        self.vocab, self.level = list(vocab), level
        self.encoder = nn.Embedding(c.vocab_size, c.embed_size)
        self.drop_embed, between, self.drop_out = c.dropout_rates
        between = between if c.num_layers > 1 else 0.0
        if c.cell == "gru":
            self.rnn = RnnlmGRU(c.embed_size, c.hidden_size, c.num_layers, between)
        else:
            kind = nn.LSTM if c.cell == "lstm" else nn.RNN
            self.rnn = kind(c.embed_size, c.hidden_size, c.num_layers, dropout=between)
        if c.softmax == "adaptive":
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(c.hidden_size, c.vocab_size,
                                                         list(c.cutoffs), div_value=4.0,
                                                         head_bias=True)
        else:
            self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
            if c.tie_weights:
                self.decoder.weight = self.encoder.weight

    def forward(self, ids, state=None):
        out, state = self.rnn(self._drop(self.encoder(ids), self.drop_embed), state)
        out = self._drop(out, self.drop_out)
        if self.config.softmax == "adaptive":
            # log p of every type; to train, self.decoder(out.view(-1, H), targets).loss
            # computes the loss without them
            return self.decoder.log_prob(out.reshape(-1, out.shape[-1])).view(
                *out.shape[:-1], -1), state
        return self.decoder(out), state

    def _drop(self, x, p):
        if not self.training or p == 0:
            return x
        if not self.config.variational:
            return nn.functional.dropout(x, p, True)
        mask = x.new_empty(1, *x.shape[1:]).bernoulli_(1 - p) / (1 - p)   # shared over time
        return x * mask

    @classmethod
    def from_safetensors(cls, path, vocab=None, level=None, cell=None):
        """The module of a file written by ``rnnlm export`` (either layout), by
        ``save_safetensors`` or by PyTorch (then ``vocab``, a file of one token a line or the
        list of tokens, when it holds none; as ``rnnlm import``). rnnlm's specials come first
        in its vocabulary."""
        config, params, vocab = interop.read(path, vocab, level, cell)
        module = cls(config, vocab.tokens, vocab.level)
        module.load_rnnlm_params(params)
        return module

    def _gru_names(self):
        """rnnlm's parameter name -> this module's, for rnnlm's GRU (the decoder aside)."""
        names = {"embed.W": "encoder.weight"}
        for k in range(self.config.num_layers):
            names.update({f"gru{k}.Wx": f"rnn.weight_x_l{k}", f"gru{k}.Wh": f"rnn.weight_h_l{k}",
                          f"gru{k}.b": f"rnn.bias_l{k}"})
        return names

    def load_rnnlm_params(self, params):
        """Set the weights from rnnlm's parameters (name -> numpy array)."""
        c = self.config
        if c.cell == "gru":
            state = {ours: params[name] for name, ours in self._gru_names().items()}
            state.update(interop.decoder_tensors(params, c))
        else:
            state = interop.torch_tensors(params, c)
        self.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})

    def rnnlm_params(self, dtype=np.float32):
        """The weights as rnnlm's parameters (name -> numpy array of ``dtype``: float32, as
        rnnlm trains, or float64, as its gradient checks run)."""
        c = self.config
        torch_dtype = torch.from_numpy(np.empty(0, dtype)).dtype
        s = {k: v.detach().cpu().to(torch_dtype).numpy() for k, v in self.state_dict().items()}
        if c.cell != "gru":
            _, params = interop.from_torch_tensors(s, {}, c.cell, "the module")
            return {k: v.astype(dtype, copy=False) for k, v in params.items()}
        params = {name: s[ours] for name, ours in self._gru_names().items()}
        if c.softmax == "adaptive":
            params.update(interop.adaptive_params(s, "the module")[0])
        else:
            params["out.b"] = s["decoder.bias"]
            if not c.tie_weights:
                params["out.W"] = s["decoder.weight"].T.copy()
        return params

    def save_safetensors(self, path, layout=None):
        """Write the module as ``rnnlm export`` does (torch layout, or rnnlm's for a GRU), for
        ``rnnlm import``."""
        from .data import Vocabulary
        layout = layout or ("rnnlm" if self.config.cell == "gru" else "torch")
        return interop.write(path, self.config, self.rnnlm_params(),
                             Vocabulary(self.vocab, self.level), layout)
