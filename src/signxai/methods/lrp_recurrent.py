"""LRP through ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` and their cells (Arras et al. 2017,
"Explaining recurrent neural network predictions in sentiment analysis"; for GRUs as in Arras et
al. 2019, "Evaluating recurrent neural network explanations"; a plain (Elman) RNN step is a
linear map and its activation).

torch runs a recurrent layer as one fused operation, so while LRP runs each one is replaced
(an instance ``forward``, removed afterwards) by the same recurrence written out step by step,
whose backward pass is the LRP of Arras et al.:

- gates (sigmoid outputs: an LSTM's input, forget and output gates, a GRU's reset and update
  gates) are held constant: a product of a gate and a signal passes all its relevance to the
  signal ("signal-take-all");
- a sum of two signals (the LSTM cell ``f c + i g``, the GRU state ``(1 - z) n + z h``) splits
  relevance in proportion to the summands, with the layer rule's denominator;
- the candidate's pre-activation is a linear map of the step's input and the previous hidden
  state (a GRU's reset gate scaling the latter), explained by the layer rule (z or epsilon) that
  the model's Linear layers get; its bias takes no relevance;
- tanh (and a plain RNN's ReLU) passes relevance unchanged, as activations do;
- an LSTM's projection (``proj_size``) is a linear map under the layer rule;
- packed sequences run padded, a finished sequence keeping its state, and are packed again;
- a cell (``nn.LSTMCell``, ``nn.GRUCell``, ``nn.RNNCell``, one step, called by the model in a
  loop) runs the same step; its state comes from the model's previous call, so relevance flows
  back through the state from one call to the one before (as through a layer's initial state
  where the model computed it from x: an encoder's final state, the previous chunk's).

The forward values are exactly those of the fused layer (checked on every call).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from signxai.errors import UnsupportedModelError
from signxai.methods.rules import check_written_out

CELLS = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
RECURRENT = (nn.LSTM, nn.GRU, nn.RNN, *CELLS)
Denominator = Callable[[torch.Tensor], torch.Tensor]


def outputs_of(module: nn.Module, output: Any) -> list[torch.Tensor]:
    """Every tensor a recurrent layer or cell returned: (output, state) or a cell's state."""
    if isinstance(module, CELLS):
        return list(output) if isinstance(output, tuple) else [output]
    return [unpacked(output[0]), *(output[1] if isinstance(output[1], tuple) else (output[1],))]


def unpacked(value: Any) -> Any:
    """The data tensor of a ``PackedSequence``; anything else unchanged."""
    return value.data if isinstance(value, PackedSequence) else value


class _LinearRule(torch.autograd.Function):
    """z = x Wx^T + (h * r) Wh^T + b; backward: the layer rule R_x = x * (s Wx), R_h = h * ((s Wh) * r).

    ``s = R / z'`` with ``z' = denominator(z)``; ``r`` (a GRU's reset gate, else 1) is constant.
    Without ``h`` (and ``wh``), ``z = x Wx^T + b`` (an LSTM's projection, with no bias).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        h: torch.Tensor | None,
        wx: torch.Tensor,
        wh: torch.Tensor | None,
        bias: torch.Tensor | None,
        scale: torch.Tensor | None,
        denominator: Denominator,
    ) -> torch.Tensor:
        x = x.detach()
        z = F.linear(x, wx, bias)
        if h is not None and wh is not None:
            h = h.detach()
            hidden = F.linear(h, wh)
            z = z + (hidden if scale is None else scale * hidden)
        ctx.save_for_backward(x, h, wx, wh)
        ctx.scale = scale
        ctx.denominator = denominator(z)
        return z

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        x, h, wx, wh = ctx.saved_tensors
        share = relevance / ctx.denominator
        if h is None:
            return x * (share @ wx), None, None, None, None, None, None
        hidden_share = share if ctx.scale is None else share * ctx.scale
        return x * (share @ wx), h * (hidden_share @ wh), None, None, None, None, None


class _SplitSum(torch.autograd.Function):
    """y = a + b; backward: R_a = a R / y', R_b = b R / y' with ``y' = denominator(y)``."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, denominator: Denominator) -> torch.Tensor:
        a, b = a.detach(), b.detach()
        y = a + b
        ctx.save_for_backward(a, b)
        ctx.denominator = denominator(y)
        return y

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        share = relevance / ctx.denominator
        return a * share, b * share, None


class _Carry(torch.autograd.Function):
    """y = f(x) computed outside (a gate times x, tanh(x)); backward passes relevance to x."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y.detach().clone()

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor, None]:
        return relevance, None


def _weights(module: nn.Module, suffix: str = "") -> tuple[torch.Tensor, ...]:
    """(w_ih, w_hh, b_ih, b_hh) of a layer's ``suffix`` (``_l0``, ``_l1_reverse``; a cell: none),
    zero biases where the module has none."""
    w_ih = getattr(module, "weight_ih" + suffix).detach()
    w_hh = getattr(module, "weight_hh" + suffix).detach()
    if module.bias:
        b_ih = getattr(module, "bias_ih" + suffix).detach()
        b_hh = getattr(module, "bias_hh" + suffix).detach()
    else:
        b_ih = b_hh = w_ih.new_zeros(w_ih.shape[0])
    return w_ih, w_hh, b_ih, b_hh


def _lstm_step(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[torch.Tensor, ...],
    denominator: Denominator,
    projection: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step (torch's gate order i, f, g, o) with the LRP backward; ``projection``: the
    ``proj_size`` weight, a linear map of the new hidden state under the layer rule."""
    h, c = state
    w_ih, w_hh, b_ih, b_hh = weights
    hidden = c.shape[-1]
    with torch.no_grad():
        pre = F.linear(x.detach(), w_ih, b_ih) + F.linear(h.detach(), w_hh, b_hh)
        i, f, _, o = (torch.sigmoid(part) for part in pre.split(hidden, dim=-1))
    g_rows = slice(2 * hidden, 3 * hidden)
    z = _LinearRule.apply(x, h, w_ih[g_rows], w_hh[g_rows], b_ih[g_rows] + b_hh[g_rows], None, denominator)
    g = _Carry.apply(z, torch.tanh(z.detach()))
    c_new = _SplitSum.apply(_Carry.apply(c, f * c.detach()), _Carry.apply(g, i * g.detach()), denominator)
    h_new = _Carry.apply(c_new, o * torch.tanh(c_new.detach()))
    if projection is not None:
        h_new = _LinearRule.apply(h_new, None, projection, None, None, None, denominator)
    return h_new, c_new


def _gru_step(
    x: torch.Tensor, h: torch.Tensor, weights: tuple[torch.Tensor, ...], denominator: Denominator
) -> torch.Tensor:
    """One GRU step (torch's gate order r, z, n) with the LRP backward."""
    w_ih, w_hh, b_ih, b_hh = weights
    hidden = h.shape[-1]
    with torch.no_grad():
        gx = F.linear(x.detach(), w_ih, b_ih).split(hidden, dim=-1)
        gh = F.linear(h.detach(), w_hh, b_hh).split(hidden, dim=-1)
        r = torch.sigmoid(gx[0] + gh[0])
        update = torch.sigmoid(gx[1] + gh[1])
    n_rows = slice(2 * hidden, 3 * hidden)
    # n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): linear in x and h with r held constant
    bias = b_ih[n_rows] + r * b_hh[n_rows]
    pre = _LinearRule.apply(x, h, w_ih[n_rows], w_hh[n_rows], bias, r, denominator)
    n = _Carry.apply(pre, torch.tanh(pre.detach()))
    kept = _Carry.apply(h, update * h.detach())
    return _SplitSum.apply(_Carry.apply(n, (1 - update) * n.detach()), kept, denominator)


def _rnn_step(
    x: torch.Tensor, h: torch.Tensor, weights: tuple[torch.Tensor, ...], denominator: Denominator, relu: bool
) -> torch.Tensor:
    """One plain RNN step h' = act(W_ih x + b_ih + W_hh h + b_hh) with the LRP backward."""
    w_ih, w_hh, b_ih, b_hh = weights
    pre = _LinearRule.apply(x, h, w_ih, w_hh, b_ih + b_hh, None, denominator)
    return _Carry.apply(pre, torch.relu(pre.detach()) if relu else torch.tanh(pre.detach()))


def _initial(hx: Any, module: Any, rows: int, like: torch.Tensor) -> Any:
    """The initial states, shaped (layers * directions, B, H): zeros by default, else the given
    ones; where those were computed from x (an encoder's final state handed to a decoder, a long
    recording run in chunks), relevance flows back through them, as through a cell's state."""
    shape = (module.num_layers * (2 if module.bidirectional else 1), rows, module.hidden_size)
    if hx is None:
        zeros = like.new_zeros(shape)
        if not isinstance(module, nn.LSTM):
            return zeros
        projected = (*shape[:2], module.proj_size) if module.proj_size else shape  # h: proj_size
        return like.new_zeros(projected), zeros
    return hx


def _within(active: torch.Tensor, new: Any, old: Any) -> Any:
    """The new state where a sequence is still running (``active``, per sample), else the old one
    (packed sequences of different lengths: a finished one keeps its last state)."""
    if isinstance(new, tuple):
        return tuple(_within(active, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(active[:, None], new, old)


def _packed_like(packed: Any, padded: torch.Tensor, lengths: torch.Tensor) -> Any:
    """``padded`` (T, B, H), in the caller's batch order, packed as ``packed`` is."""
    order = packed.sorted_indices
    if order is not None:
        padded, lengths = padded.index_select(1, order), lengths.index_select(0, order)
    data = pack_padded_sequence(padded, lengths.cpu()).data
    return packed._replace(data=data)


def recurrent_forward(module: Any, denominator: Denominator) -> Callable[..., Any]:
    """An instance ``forward`` for ``module`` (LSTM, GRU or RNN) that runs the LRP recurrence."""
    is_lstm = isinstance(module, nn.LSTM)
    step: Callable[..., Any]
    if isinstance(module, nn.GRU):
        step = _gru_step
    else:  # nn.RNN: tanh or relu
        step = functools.partial(_rnn_step, relu=getattr(module, "nonlinearity", "tanh") == "relu")

    def forward(input: Any, hx: Any = None) -> Any:
        lengths = None
        if isinstance(input, PackedSequence):  # padded (T, B, features) in the caller's order
            sequence, lengths = pad_packed_sequence(input)
            lengths = lengths.to(sequence.device)
            unbatched = False
        elif isinstance(input, torch.Tensor):
            unbatched = input.ndim == 2
            sequence = input.unsqueeze(1 if not module.batch_first else 0) if unbatched else input
            if module.batch_first:
                sequence = sequence.transpose(0, 1)  # (T, B, features)
        else:
            raise UnsupportedModelError(
                f"LRP: {type(module).__name__} on a {type(input).__name__} is not supported"
            )
        if unbatched and hx is not None:
            hx = tuple(s.unsqueeze(1) for s in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)
        states = _initial(hx, module, sequence.shape[1], sequence)
        directions = 2 if module.bidirectional else 1
        finals_h, finals_c = [], []
        layer_input = list(sequence.unbind(0))
        for layer in range(module.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                weights = _weights(module, suffix)
                projection = (
                    getattr(module, "weight_hr" + suffix).detach() if is_lstm and module.proj_size else None
                )
                if is_lstm:
                    state: Any = (states[0][index], states[1][index])
                else:
                    state = states[index]
                steps = range(len(layer_input) - 1, -1, -1) if direction else range(len(layer_input))
                hidden: list[torch.Tensor] = [layer_input[0]] * len(layer_input)
                new: Any
                for t in steps:
                    if is_lstm:
                        new = _lstm_step(layer_input[t], state, weights, denominator, projection)
                    else:
                        new = step(layer_input[t], state, weights, denominator)
                    state = new if lengths is None else _within(t < lengths, new, state)
                    hidden[t] = state[0] if is_lstm else state
                outputs.append(hidden)
                finals_h.append(state[0] if is_lstm else state)
                if is_lstm:
                    finals_c.append(state[1])
            layer_input = [torch.cat(parts, dim=-1) for parts in zip(*outputs, strict=True)]
        output = torch.stack(layer_input, 0)
        if lengths is not None:
            output = _packed_like(input, output, lengths)
        elif module.batch_first:
            output = output.transpose(0, 1)
        h_n = torch.stack(finals_h, 0)
        if unbatched:
            output = output.squeeze(1 if not module.batch_first else 0)
            h_n = h_n.squeeze(1)
        if not is_lstm:
            return output, h_n
        c_n = torch.stack(finals_c, 0)
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)

    return forward


def cell_forward(module: Any, denominator: Denominator) -> Callable[..., Any]:
    """An instance ``forward`` for a cell (LSTMCell, GRUCell or RNNCell) that runs one LRP step.

    The state the model passes (``hx``, from its previous call) is used as it is: where it was
    computed from x, relevance flows back through it."""
    is_lstm = isinstance(module, nn.LSTMCell)
    weights = _weights(module)

    def forward(input: torch.Tensor, hx: Any = None) -> Any:
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            zeros = x.new_zeros(len(x), module.hidden_size)
            hx = (zeros, zeros) if is_lstm else zeros
        elif unbatched:
            hx = tuple(s.unsqueeze(0) for s in hx) if is_lstm else hx.unsqueeze(0)
        if is_lstm:
            new: Any = _lstm_step(x, tuple(hx), weights, denominator)
        elif isinstance(module, nn.GRUCell):
            new = _gru_step(x, hx, weights, denominator)
        else:
            new = _rnn_step(x, hx, weights, denominator, relu=module.nonlinearity == "relu")
        if unbatched:
            new = tuple(s.squeeze(0) for s in new) if is_lstm else new.squeeze(0)
        return new

    return forward


class RecurrentRule:
    """The LRP recurrence on an LSTM/GRU/RNN for the duration of one explanation.

    Parameters
    ----------
    denominator
        The layer rule's ``z -> z'`` (z-rule or epsilon rule), used for the candidate's linear
        map and the sums.
    """

    def __init__(self, denominator: Denominator) -> None:
        self.denominator = denominator

    def copy(self) -> RecurrentRule:
        """The same rule for another layer (it keeps no state)."""
        return RecurrentRule(self.denominator)

    def register(self, module: nn.Module) -> _Handle:
        """Give ``module`` the LRP recurrence as its instance ``forward``; the handle removes it."""
        cell = isinstance(module, CELLS)
        forward = (cell_forward if cell else recurrent_forward)(module, self.denominator)
        fused = module.forward

        def checked(input: Any, hx: Any = None) -> Any:
            result = forward(input, hx)
            constant = (
                input._replace(data=input.data.detach())
                if isinstance(input, PackedSequence)
                else input.detach()
            )
            if hx is not None:  # the state may come from x (a cell's previous call, an encoder)
                hx = tuple(s.detach() for s in hx) if isinstance(hx, tuple) else hx.detach()
            with torch.no_grad():
                expected = fused(constant, hx)
            for ours, theirs in zip(outputs_of(module, result), outputs_of(module, expected), strict=True):
                check_written_out(ours, theirs, type(module).__name__)
            return result

        module.forward = checked
        return _Handle(module)


class _Handle:
    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def remove(self) -> None:
        if "forward" in vars(self.module):
            del self.module.forward
