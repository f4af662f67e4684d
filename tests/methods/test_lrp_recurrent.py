"""LRP through LSTM, GRU and plain RNN layers (Arras et al. 2017), against a per-sample NumPy
recurrence."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from models import assert_unchanged, rel_error, snapshot
from signxai import UnsupportedModelError, explain


def _split(parts: list[np.ndarray], total: np.ndarray, relevance: np.ndarray, eps: float) -> list[np.ndarray]:
    """Epsilon rule on a sum: each part gets part / (total + eps sign(total)) of the relevance."""
    denominator = total + eps * np.where(total >= 0, 1.0, -1.0)
    return [p / denominator * relevance for p in parts]


def _linear(a: np.ndarray, w: np.ndarray, z: np.ndarray, relevance: np.ndarray, eps: float) -> np.ndarray:
    """Epsilon rule on z = w a + b (b takes none): R_a = a * w^T (R / (z + eps sign z))."""
    return a * (w.T @ (relevance / (z + eps * np.where(z >= 0, 1.0, -1.0))))


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def _reference(model: _Recurrent, x: np.ndarray, target: int, eps: float) -> np.ndarray:
    """LRP of one sample (T, F), written out per time step in float64."""
    rnn, head = model.rnn, model.head.weight.detach().double().numpy()
    kind, hidden = type(rnn), rnn.hidden_size
    projected = getattr(rnn, "proj_size", 0)
    width = projected or hidden  # the hidden state's size
    directions = 2 if rnn.bidirectional else 1
    finals, traces = [], []
    for d in range(directions):
        suffix = "_l0" + ("_reverse" if d else "")
        w_ih, w_hh = (getattr(rnn, n + suffix).detach().double().numpy() for n in ("weight_ih", "weight_hh"))
        b_ih, b_hh = (getattr(rnn, n + suffix).detach().double().numpy() for n in ("bias_ih", "bias_hh"))
        w_hr = getattr(rnn, "weight_hr" + suffix).detach().double().numpy() if projected else None
        order = list(range(len(x)))[::-1] if d else list(range(len(x)))
        h, c, trace = np.zeros(width), np.zeros(hidden), []
        for t in order:
            if kind is nn.LSTM:
                i, f, g, o = np.split(w_ih @ x[t] + b_ih + w_hh @ h + b_hh, 4)
                i, f, o, g_pre = _sigmoid(i), _sigmoid(f), _sigmoid(o), g
                c_new = f * c + i * np.tanh(g_pre)
                m = o * np.tanh(c_new)
                h_new = m if w_hr is None else w_hr @ m  # proj_size: a linear map of o tanh(c)
                trace.append((t, h, c, i, f, g_pre, c_new, m, h_new))
                h, c = h_new, c_new
            elif kind is nn.RNN:
                pre = w_ih @ x[t] + b_ih + w_hh @ h + b_hh
                trace.append((t, h, pre))
                h = np.tanh(pre) if rnn.nonlinearity == "tanh" else np.maximum(pre, 0.0)
            else:
                gx, gh = np.split(w_ih @ x[t] + b_ih, 3), np.split(w_hh @ h + b_hh, 3)
                r, z = _sigmoid(gx[0] + gh[0]), _sigmoid(gx[1] + gh[1])
                n_pre = gx[2] + r * gh[2]
                h_new = (1 - z) * np.tanh(n_pre) + z * h
                trace.append((t, h, r, z, n_pre, h_new))
                h = h_new
        finals.append(h)
        traces.append((trace, w_ih, w_hh, w_hr))
    logits = head @ np.concatenate(finals)
    head_relevance = _linear(
        np.concatenate(finals),
        head[target : target + 1],
        logits[target : target + 1],
        np.array([logits[target]]),
        eps,
    )
    relevance_x = np.zeros_like(x)
    for d, (trace, w_ih, w_hh, w_hr) in enumerate(traces):
        r_h = head_relevance[d * width : (d + 1) * width]
        r_c = np.zeros(hidden)
        rows = slice(2 * hidden, 3 * hidden)
        for step in reversed(trace):
            if kind is nn.LSTM:
                t, h_prev, c_prev, i, f, g_pre, c_new, m, h_new = step
                r_m = r_h if w_hr is None else _linear(m, w_hr, h_new, r_h, eps)
                r_c = r_c + r_m  # the output gate passes its relevance to c
                r_c, r_g = _split([f * c_prev, i * np.tanh(g_pre)], c_new, r_c, eps)
                relevance_x[t] += _linear(x[t], w_ih[rows], g_pre, r_g, eps)
                r_h = _linear(h_prev, w_hh[rows], g_pre, r_g, eps)
            elif kind is nn.RNN:  # the activation passes relevance; then the linear map
                t, h_prev, pre = step
                relevance_x[t] += _linear(x[t], w_ih, pre, r_h, eps)
                r_h = _linear(h_prev, w_hh, pre, r_h, eps)
            else:
                t, h_prev, r, z, n_pre, h_new = step
                r_n, r_kept = _split([(1 - z) * np.tanh(n_pre), z * h_prev], h_new, r_h, eps)
                relevance_x[t] += _linear(x[t], w_ih[rows], n_pre, r_n, eps)
                r_h = r_kept + _linear(h_prev, r[:, None] * w_hh[rows], n_pre, r_n, eps)
    return relevance_x


class _Recurrent(nn.Module):
    """A recurrent layer on (B, T, F) and a Linear on its last hidden state(s)."""

    def __init__(self, kind: type[nn.Module], bidirectional: bool, bias: bool = True) -> None:
        super().__init__()
        self.rnn = kind(3, 5, batch_first=True, bidirectional=bidirectional, bias=bias)
        width = getattr(self.rnn, "proj_size", 0) or 5
        self.head = nn.Linear(width * (2 if bidirectional else 1), 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        return self.head(torch.cat(list(h_n), dim=-1))


RELU_RNN = functools.partial(nn.RNN, nonlinearity="relu")
PROJECTED_LSTM = functools.partial(nn.LSTM, proj_size=2)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(
    "kind",
    [nn.LSTM, PROJECTED_LSTM, nn.GRU, nn.RNN, RELU_RNN],
    ids=["lstm", "projected_lstm", "gru", "rnn", "relu_rnn"],
)
@pytest.mark.parametrize("eps", [0.001, 0.25])
def test_recurrent_lrp_equals_the_written_out_recurrence(
    kind: type[nn.Module], bidirectional: bool, eps: float
) -> None:
    torch.manual_seed(0)
    model = _Recurrent(kind, bidirectional).eval()
    x = torch.randn(3, 7, 3)
    targets = [0, 3, 1]
    before = snapshot(model)
    ours = explain(model, x, "lrp_epsilon", epsilon=eps, target_class=targets)
    assert_unchanged(model, before)
    for b, target in enumerate(targets):
        expected = _reference(model, x[b].double().numpy(), target, eps)
        assert rel_error(ours[b], expected) < 1e-4


@pytest.mark.parametrize(
    "kind", [nn.LSTM, PROJECTED_LSTM, nn.GRU, nn.RNN], ids=["lstm", "projected_lstm", "gru", "rnn"]
)
def test_a_conv_recurrent_ecg_net_conserves_the_logit_without_biases(kind: type[nn.Module]) -> None:
    """CNN + recurrent layer (2 layers, bidirectional), as in CNN-LSTM ECG classifiers."""

    class _ConvRecurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 6, 5, padding=2, bias=False)
            self.rnn = kind(6, 4, num_layers=2, bidirectional=True, bias=False)  # (T, B, F) layout
            self.head = nn.Linear(2 * (getattr(self.rnn, "proj_size", 0) or 4), 3, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.conv(x)).permute(2, 0, 1)
            output, _ = self.rnn(h)
            return self.head(output[-1])

    torch.manual_seed(1)
    model = _ConvRecurrent().eval()
    x = torch.randn(2, 2, 16)
    relevance = explain(model, x, "lrp_z", target_class=[2, 0])
    logits = model(x).detach()[torch.arange(2), torch.tensor([2, 0])].numpy()
    np.testing.assert_allclose(relevance.reshape(2, -1).sum(1), logits, rtol=1e-4)
    sign = explain(model, x, "lrpsign_epsilon_0_1", target_class=[2, 0])  # SIGN on the conv
    assert np.isfinite(sign).all() and np.abs(sign).sum() > 0
    batch = explain(model, x, "lrp_epsilon_0_1", target_class=[2, 0])
    one = explain(model, x[1:], "lrp_epsilon_0_1", target_class=[0])
    np.testing.assert_allclose(batch[1:], one, rtol=1e-5, atol=1e-7)


class _Packed(nn.Module):
    """A CNN and a 2-layer bidirectional recurrent layer over recordings of different lengths
    (packed when ``lengths`` is given, as variable-length ECG classifiers do)."""

    def __init__(self, kind: type[nn.Module]) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.rnn = kind(4, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.conv(x)).transpose(1, 2)
        if lengths is not None:
            h = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(h)
        h_n = state[0] if isinstance(state, tuple) else state
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=-1))


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU, nn.RNN], ids=["lstm", "gru", "rnn"])
def test_packed_sequences_of_different_lengths_are_each_explained_as_alone(kind: type[nn.Module]) -> None:
    torch.manual_seed(2)
    model = _Packed(kind).eval()
    lengths = torch.tensor([9, 14, 6])  # not sorted: the packing reorders, the maps must not
    x = torch.randn(3, 2, 14)
    for b, length in enumerate(lengths):
        x[b, :, length:] = 0.0  # padding
    targets = [2, 0, 1]
    before = snapshot(model)
    batch = explain(model, x, "lrp_epsilon_0_1", target_class=targets, forward_kwargs={"lengths": lengths})
    assert_unchanged(model, before)
    for b, length in enumerate(lengths.tolist()):
        alone = explain(model, x[b : b + 1, :, :length], "lrp_epsilon_0_1", target_class=[targets[b]])
        np.testing.assert_allclose(batch[b : b + 1, :, :length], alone, rtol=1e-4, atol=1e-7)
        assert not batch[b, :, length:].any()


def test_recurrent_layers_refuse_rules_that_are_not_defined_for_them() -> None:
    model = _Recurrent(nn.LSTM, bidirectional=False).eval()
    x = torch.randn(2, 7, 3)
    before = snapshot(model)
    for method, match in [
        ("lrp_alpha_1_beta_0", "z or epsilon rule"),
        ("lrp_epsilon_0_1_std_x", "with std_x"),
        ("lrpsign_epsilon_0_1", "recurrent layer 'rnn' reads the input"),
    ]:
        with pytest.raises(UnsupportedModelError, match=match):
            explain(model, x, method, target_class=0)
        assert_unchanged(model, before)


class _CellLoop(nn.Module):
    """A recurrent net written with a cell (``nn.LSTMCell``/``GRUCell``/``RNNCell``) called per
    time step, after an optional conv front end; ``as_layer`` is the same net with the fused layer."""

    def __init__(self, cell: nn.Module, front: bool = False) -> None:
        super().__init__()
        self.front = nn.Sequential(nn.Conv1d(3, 3, 3, padding=1), nn.ReLU()) if front else nn.Identity()
        self.cell = cell
        self.head = nn.Linear(cell.hidden_size, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.front(x)
        state = None
        for t in range(x.shape[-1]):
            state = self.cell(x[:, :, t], state)
        return self.head(state[0] if isinstance(state, tuple) else state)

    def as_layer(self) -> nn.Module:
        cell = self.cell
        kind = {nn.LSTMCell: nn.LSTM, nn.GRUCell: nn.GRU, nn.RNNCell: nn.RNN}[type(cell)]
        extra = {"nonlinearity": cell.nonlinearity} if isinstance(cell, nn.RNNCell) else {}
        layer = kind(cell.input_size, cell.hidden_size, bias=cell.bias, batch_first=True, **extra)
        with torch.no_grad():
            layer.weight_ih_l0.copy_(cell.weight_ih)
            layer.weight_hh_l0.copy_(cell.weight_hh)
            if cell.bias:
                layer.bias_ih_l0.copy_(cell.bias_ih)
                layer.bias_hh_l0.copy_(cell.bias_hh)
        front, head = self.front, self.head

        class Layer(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.front, self.rnn, self.head = front, layer, head

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                output, _ = self.rnn(self.front(x).transpose(1, 2))
                return self.head(output[:, -1])

        return Layer().to(cell.weight_ih).eval()


CELLS = {
    "lstm": lambda: nn.LSTMCell(3, 5),
    "gru": lambda: nn.GRUCell(3, 5),
    "rnn_tanh": lambda: nn.RNNCell(3, 5),
    "rnn_relu": lambda: nn.RNNCell(3, 5, nonlinearity="relu"),
    "lstm_no_bias": lambda: nn.LSTMCell(3, 5, bias=False),
}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("method", ["lrp_epsilon_0_1", "lrp_z"])
def test_a_cell_called_per_step_is_explained_as_the_fused_layer(cell: str, method: str) -> None:
    """The cell runs the same LRP step; relevance flows back through the state the model passes
    from one call to the next. Before, a cell was a module without a rule."""
    torch.manual_seed(0)
    model = _CellLoop(CELLS[cell]()).double().eval()
    x = torch.randn(3, 3, 7, dtype=torch.float64)
    torch.testing.assert_close(model(x), model.as_layer()(x))
    before = snapshot(model)
    ours = explain(model, x, method, target_class=[0, 1, 0])
    assert_unchanged(model, before)
    assert rel_error(ours, explain(model.as_layer(), x, method, target_class=[0, 1, 0])) < 1e-10


def test_a_cell_after_a_conv_front_end_takes_sign_and_refuses_what_layers_refuse() -> None:
    torch.manual_seed(0)
    model = _CellLoop(nn.LSTMCell(3, 5), front=True).double().eval()
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    ours = explain(model, x, "lrpsign_epsilon_0_1", target_class=[1, 0])
    assert rel_error(ours, explain(model.as_layer(), x, "lrpsign_epsilon_0_1", target_class=[1, 0])) < 1e-10
    alone = _CellLoop(nn.GRUCell(3, 5)).eval()
    for method, match in [
        ("lrp_alpha_1_beta_0", "z or epsilon rule"),
        ("lrpsign_epsilon_0_1", "recurrent cell 'cell' reads the input"),
    ]:
        with pytest.raises(UnsupportedModelError, match=match):
            explain(alone, torch.randn(2, 3, 6), method, target_class=0)


class _Chunked(nn.Module):
    """One recurrent layer run over a recording in two chunks, the first chunk's final state
    handed to the second (as for long recordings, or an encoder's state handed to a decoder);
    ``whole`` runs it over the recording at once: the same function."""

    def __init__(self, kind: type[nn.Module], split: int, **options: Any) -> None:
        super().__init__()
        self.rnn = kind(3, 4, batch_first=True, **options)
        self.head = nn.Linear(options.get("proj_size") or 4, 2)
        self.split = split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = x.transpose(1, 2)
        _, state = self.rnn(sequence[:, : self.split])
        output, _ = self.rnn(sequence[:, self.split :], state)
        return self.head(output[:, -1])

    def whole(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x.transpose(1, 2))
        return self.head(output[:, -1])


class _Whole(nn.Module):
    def __init__(self, chunked: _Chunked) -> None:
        super().__init__()
        self.chunked = chunked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.chunked.whole(x)


@pytest.mark.parametrize(
    ("kind", "options"),
    [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {}), (nn.LSTM, {"num_layers": 2}), (nn.LSTM, {"proj_size": 2})],
    ids=["lstm", "gru", "rnn", "lstm_2_layers", "lstm_projected"],
)
def test_a_state_computed_from_x_carries_relevance_as_one_run_does(
    kind: type[nn.Module], options: dict
) -> None:
    """Relevance flows back through an initial state the model computed from x: the recording
    run in two chunks is explained as the one run over it. Before, such a state was refused
    ('relevance cannot flow through it')."""
    torch.manual_seed(0)
    model = _Chunked(kind, split=4, **options).double().eval()
    x = torch.randn(3, 3, 9, dtype=torch.float64)
    torch.testing.assert_close(model(x), model.whole(x))
    before = snapshot(model)
    for method in ("lrp_epsilon_0_1", "lrp_z"):
        ours = explain(model, x, method, target_class=[0, 1, 0])
        assert rel_error(ours, explain(_Whole(model).eval(), x, method, target_class=[0, 1, 0])) < 1e-10
    assert_unchanged(model, before)
