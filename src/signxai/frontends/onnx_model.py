"""ONNX models: converted to a torch module (onnx2torch) and proved equal to onnxruntime on the input.

An ONNX graph enters like a Keras model: it becomes a torch module, and only after that module
computed what onnxruntime computes for the caller's own input is it explained. The methods never
fork per framework. onnx2torch maps ``Conv``, ``Gemm``, ``Relu``, ``MaxPool``, ``Softmax``, ...
onto ``nn.Conv1d``, ``nn.Linear``, ``nn.ReLU``, ``nn.MaxPool1d``, ``nn.Softmax``, so the LRP
rules, Grad-CAM's layers and the output-activation bypass see the modules they know; the
graph's shape arithmetic (``Shape``, ``Gather``, ``Concat``, ``Reshape``) runs as its own small
modules.

Two rewrites make the graphs of current exporters convertible; the parity proof checks them on
every call: the default domain is converted to opset 17 (onnx2torch 1.5 has no converters for
the opset-19 versions of ``Reshape``, ``Shape`` and ``Constant`` that ``torch.onnx.export``
writes), and ``Reshape``'s ``allowzero=1`` (written by the dynamo exporter) becomes 0, which
differs only where a target shape holds a literal 0.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.checks import host_values, numpy_tensor
from signxai.errors import InputError, UnsupportedModelError
from signxai.model import input_placement

#: The opset onnx2torch converts every common operator of (its newest ``Reshape``, ``Shape``,
#: ``Constant`` converters are for opsets <= 17).
OPSET = 17
#: Converted graphs by the SHA-256 of their bytes (and the chosen output), most recent last.
_CACHE: OrderedDict[tuple[str, str], OnnxModule] = OrderedDict()
_CACHE_SIZE = 8
#: Relative L2 difference to onnxruntime's outputs above which a conversion is refused.
TOLERANCE = 1e-4


def is_onnx_model(model: Any) -> bool:
    """Whether ``model`` is an ONNX model: an ``onnx.ModelProto`` or a path ending in ``.onnx``."""
    if isinstance(model, (str, os.PathLike)):
        return str(model).lower().endswith(".onnx")
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


class OnnxModule(nn.Module):
    """An ONNX graph as a torch module: ``net`` is onnx2torch's ``GraphModule``.

    Attributes
    ----------
    input_names, output_names
        The graph's input and output names; ``output`` is the one returned.
    batch
        The rows the graph runs at a time, or None (any number). A graph declaring a fixed batch
        of N whose shape arithmetic holds N (a ``Reshape`` to ``[N, -1]``) runs N rows at a time,
        the last chunk padded with copies of its last row whose outputs are dropped; one that
        reads the batch from its input (probed on 2N + 1 rows) runs whole.
    declared_batch
        The batch size fixed in the graph's first input, or None where it is free.
    """

    def __init__(
        self,
        net: nn.Module,
        input_names: list[str],
        output_names: list[str],
        output: str,
        batch: int | None,
        source: bytes,
        activation: nn.Module | None = None,
        shapes: Sequence[tuple[int | str, ...]] = (),
    ) -> None:
        super().__init__()
        self.net = net
        #: The graph's output activation (Softmax, Sigmoid, LogSoftmax), lifted out of ``net``
        #: and applied to its whole output: where the graph runs in chunks the activation is
        #: still the last step, which ``explain`` bypasses to explain the logit.
        self.activation = activation
        self.source = source  # the graph's bytes, for onnxruntime
        self.input_names = input_names
        self.output_names = output_names
        self.output = output
        self.batch = batch
        #: The batch size the graph declares (onnxruntime runs it on exactly that many rows).
        self.declared_batch = batch
        #: Each input's declared shape: sizes, and names (or "?") for free axes.
        self.input_shapes = list(shapes)
        self._index = output_names.index(output)

    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        outputs = self.net(*inputs)
        if len(self.output_names) == 1:
            return outputs
        return outputs[self._index]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The chosen output of the graph on ``inputs`` (in the graph's input order)."""
        rows = inputs[0].shape[0] if inputs and inputs[0].ndim else 0
        size = self.batch
        if size is None or rows == size:
            output = self._run(*inputs)
        else:
            parts = []
            for start in range(0, rows, size):
                chunk = [_rows(value, start, size, rows) for value in inputs]
                parts.append(self._run(*chunk)[: min(size, rows - start)])
            output = torch.cat(parts)
        return output if self.activation is None else self.activation(output)

    def prove(self, x: Any, forward_args: Sequence[Any] = ()) -> None:
        """Raise unless this module computes onnxruntime's output on ``x`` (and ``forward_args``,
        the graph's further inputs) to a relative L2 difference below 1e-4.

        Raises
        ------
        UnsupportedModelError
            The outputs differ, or the module fails where onnxruntime computes the graph.
        """
        inputs = [_array(value) for value in (x, *forward_args)]
        if len(inputs) != len(self.input_names):
            raise InputError(
                f"the ONNX model takes {len(self.input_names)} input(s) {self.input_names}; x and "
                f"forward_args give {len(inputs)}"
            )
        for name, shape, value in zip(self.input_names, self.input_shapes, inputs, strict=False):
            fixed = [(axis, size) for axis, size in enumerate(shape) if isinstance(size, int) and axis]
            wrong = len(shape) != value.ndim or any(value.shape[axis] != size for axis, size in fixed)
            if shape and wrong:  # a graph may leave an input's shape unsaid: onnxruntime checks
                raise InputError(
                    f"the ONNX model's input '{name}' is {_text(shape)} (names: any size); it was "
                    f"given {tuple(value.shape)}"
                )
        expected = _onnxruntime_output(
            self.source, self.input_names, self.output, inputs, self.declared_batch
        )
        try:
            device = input_placement(self)[0]  # the module may have been moved to a GPU
            tensors = [numpy_tensor(v).to(device) for v in inputs]
            with torch.no_grad():
                actual = self(*tensors).double().cpu().numpy()
        except RuntimeError as failure:
            raise UnsupportedModelError(
                f"the ONNX model converted to torch failed on x where onnxruntime computes it: {failure}"
            ) from failure
        error = float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30))
        if actual.shape != expected.shape or not error < TOLERANCE:
            raise UnsupportedModelError(
                f"the ONNX model converted to torch does not compute onnxruntime's output on x "
                f"(shapes {actual.shape} and {expected.shape}, relative error {error:.2e}); it is "
                "not explained"
            )


def _rows(value: Any, start: int, size: int, rows: int) -> Any:
    """``size`` rows of ``value`` from ``start``, padded with copies of its last row past
    ``rows``; a value without those ``rows`` (a constant) as it is."""
    if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.shape[0] != rows:
        return value
    chunk = value[start : start + size]
    missing = size - chunk.shape[0]
    return torch.cat([chunk, chunk[-1:].expand(missing, *chunk.shape[1:])]) if missing else chunk


def _array(value: Any) -> np.ndarray:
    """``value`` as numpy; floating values as float32, what ONNX graphs take."""
    array = np.asarray(host_values(value))
    return array.astype(np.float32) if np.issubdtype(array.dtype, np.floating) else array


def _onnxruntime_output(
    data: bytes, names: list[str], output: str, inputs: list[np.ndarray], batch: int | None
) -> np.ndarray:
    """onnxruntime's ``output`` for ``inputs`` (float64), in chunks of a fixed ``batch``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    rows = inputs[0].shape[0]
    step = batch or rows
    parts = []
    for start in range(0, rows, step):
        feed = {
            name: _rows(numpy_tensor(value), start, step, rows).numpy()
            for name, value in zip(names, inputs, strict=True)
        }
        try:
            (result,) = session.run([output], feed)
        except Exception as error:  # onnxruntime's own error classes
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InputError(f"onnxruntime could not run the ONNX model on x: {first}") from None
        parts.append(np.asarray(result, dtype=np.float64)[: min(step, rows - start)])
    return np.concatenate(parts)


def _load(model: Any) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (a ModelProto or a path to a .onnx file)."""
    try:
        import onnx
    except ImportError:
        raise UnsupportedModelError(
            "ONNX models need the onnx extra: pip install 'signxai[onnx]' (onnx, onnxruntime, onnx2torch)"
        ) from None
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise InputError(f"ONNX model file '{path}' not found")
        try:
            return onnx.load(str(path))
        except Exception as error:  # protobuf's DecodeError and others
            raise InputError(
                f"'{path}' could not be read as an ONNX model: {type(error).__name__}: {error}"
            ) from None
    if not isinstance(model, onnx.ModelProto):  # before, Python's AttributeError
        raise InputError(
            f"model must be an onnx.ModelProto or the path of a .onnx file, got {type(model).__name__}"
        )
    return model


def _rewritten(proto: Any) -> Any:
    """A copy of ``proto`` that onnx2torch converts: opset 17, ``Reshape`` with ``allowzero=0``."""
    import onnx
    from onnx import version_converter

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for node in copy.graph.node:
        if node.op_type == "Reshape":
            for attribute in node.attribute:
                if attribute.name == "allowzero":
                    attribute.i = 0
    opset = max((o.version for o in copy.opset_import if o.domain in ("", "ai.onnx")), default=OPSET)
    if opset > OPSET:
        try:
            copy = version_converter.convert_version(copy, OPSET)
        except Exception as error:  # the converter asserts in C++ where it has no adapter
            reason = str(error).strip().splitlines()[-1].rsplit("failed: ", 1)[-1]
            raise UnsupportedModelError(
                f"the ONNX model (opset {opset}) could not be converted to opset {OPSET}, the newest "
                f"onnx2torch converts ({reason}: an operator new in a later opset, or a mode "
                f"added later); export the model at opset {OPSET} (torch.onnx.export(..., "
                f"dynamo=False, opset_version={OPSET}) writes such operators out), or explain it in "
                "its own framework (a torch module, a Keras model)"
            ) from None
    return copy


def from_onnx(
    model: Any, x: Any = None, forward_args: Sequence[Any] = (), output: str | int | None = None
) -> OnnxModule:
    """An ONNX model as a torch module (eval mode), proved on ``x`` when given.

    Parameters
    ----------
    model
        An ``onnx.ModelProto`` or the path of a ``.onnx`` file (extra ``signxai[onnx]``).
    x, forward_args
        The graph's inputs, batched (numpy or torch). When given, the module must compute
        onnxruntime's output on them (relative L2 difference below 1e-4) or an error is raised.
    output
        The graph output to explain, by name or index; needed where the graph has several.

    Returns
    -------
    OnnxModule
        Usable wherever signxai takes a torch model (``explain``, the evaluation functions, the
        ECG toolkit). Converted once per graph (cached by the graph's bytes).

    Raises
    ------
    UnsupportedModelError
        The extra is missing, an operator has no converter, or the outputs differ on ``x``.
    InputError
        The file does not exist or is not ONNX; ``output`` names no output of the graph.
    """
    if not isinstance(forward_args, (tuple, list)):  # before, Python's TypeError (or a dict's keys)
        kind = type(forward_args).__name__
        raise InputError(f"forward_args must be a tuple or list of the graph's further inputs, got {kind}")
    proto = _load(model)
    data = proto.SerializeToString()
    names = [o.name for o in proto.graph.output]
    if output is None and len(names) > 1:
        raise UnsupportedModelError(
            f"the ONNX model has {len(names)} outputs {names}; choose the one to explain: "
            "signxai.from_onnx(model, output=name), then explain that module"
        )
    if isinstance(output, int) and not isinstance(output, bool):
        if not -len(names) <= output < len(names):
            raise InputError(f"output={output} is out of range for the ONNX model's outputs {names}")
        output = names[output]
    chosen = names[0] if output is None else str(output)
    if chosen not in names:
        raise InputError(f"output={output!r} is not an output of the ONNX model; its outputs: {names}")
    key = (hashlib.sha256(data).hexdigest(), chosen)
    module = _CACHE.get(key)
    if module is not None and x is not None:
        try:
            module.prove(x, forward_args)
            _CACHE.move_to_end(key)
            return module
        except UnsupportedModelError:  # the cached module was changed since (its weights): anew
            module = None
    if module is None:
        module = _converted(proto, data, chosen)
        _CACHE[key] = module
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    if x is not None:
        module.prove(x, forward_args)
    return module


def _converted(proto: Any, data: bytes, output: str) -> OnnxModule:
    from onnx2torch import convert

    try:
        net = convert(_rewritten(proto))
    except NotImplementedError as error:
        raise UnsupportedModelError(
            f"onnx2torch cannot convert this ONNX model: {error}; explain the model in its own "
            "framework (a torch module, a Keras model) instead"
        ) from None
    graph_inputs = _graph_inputs(proto)
    names = [i.name for i in graph_inputs]
    shapes = [_declared(i) for i in graph_inputs]
    outputs = [o.name for o in proto.graph.output]
    activation = _lift_activation(net, outputs.index(output))
    first = shapes[0] if shapes else ()
    batch = first[0] if first and isinstance(first[0], int) and first[0] > 0 else None
    module = OnnxModule(net, names, outputs, output, batch, data, activation, shapes).eval()
    if module.batch is not None and _batch_free(module, proto):
        module.batch = None
    return module


def _batch_free(module: OnnxModule, proto: Any) -> bool:
    """Whether a graph declared with a fixed batch N computes each row alike in a batch of
    2N + 1 rows (its shape arithmetic reads the batch from the input, as the TorchScript
    exporter writes it): then it runs on any number of rows, unchunked. Probed on random rows
    of the declared shape, one input of 32-bit floats; False where that cannot be made."""
    sizes = [n for n in module.input_shapes[0][1:] if isinstance(n, int)]
    floats = _graph_inputs(proto)[0].type.tensor_type.elem_type == 1
    if len(module.input_shapes) != 1 or not floats or len(sizes) != len(module.input_shapes[0]) - 1:
        return False
    size = module.batch or 1
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2 * size + 1, *sizes, generator=generator)
    with torch.no_grad():
        chunked = module(x)
        try:
            whole = module._run(x)
        except RuntimeError:  # the batch is baked into a Reshape or a constant
            return False
        whole = whole if module.activation is None else module.activation(whole)
    if whole.shape != chunked.shape:
        return False
    return bool(torch.allclose(whole, chunked, rtol=1e-5, atol=1e-6 * float(chunked.abs().max()) + 1e-12))


def _lift_activation(net: Any, index: int) -> nn.Module | None:
    """Take a Softmax/Sigmoid/LogSoftmax module that makes graph output ``index`` (and feeds
    nothing else) out of the fx graph ``net``: the graph returns its input instead, and the
    module is returned (None where the output is made otherwise)."""
    from signxai.model import OUTPUT_ACTIVATIONS

    graph = net.graph
    node = next(n for n in graph.nodes if n.op == "output")
    results = node.args[0]
    several = isinstance(results, (tuple, list))
    last = results[index] if several else results
    if getattr(last, "op", None) != "call_module" or len(last.users) != 1 or len(last.args) != 1:
        return None
    module = net.get_submodule(last.target)
    if not isinstance(module, OUTPUT_ACTIVATIONS):
        return None
    replaced = last.args[0]
    if several:
        node.args = (type(results)(replaced if i == index else r for i, r in enumerate(results)),)
    else:
        node.args = (replaced,)
    graph.erase_node(last)
    net.recompile()
    return module


def onnx_input(model: Any, x: Any, forward_args: Sequence[Any]) -> OnnxModule:
    """The module for ``model`` proved on ``x`` (one sample gets a batch axis for the proof; the
    caller explains ``x`` as given, batched as for any torch model)."""
    proto = _load(model)
    first = _graph_inputs(proto)[0]
    rank = len(first.type.tensor_type.shape.dim)  # 0 where the graph does not say
    values = _array(x)
    if rank and values.ndim == rank - 1:
        values = values[None]  # forward_args have their batch axis already (a batch of one)
    elif rank and values.ndim != rank:
        raise InputError(
            f"x has shape {values.shape}; the ONNX model's input '{first.name}' is "
            f"{_text(_declared(first))} (rank {rank}), so x must have {rank} axes (or {rank - 1} for one "
            "sample)"
        )
    return from_onnx(proto, values, forward_args)


def _graph_inputs(proto: Any) -> list[Any]:
    """The graph's inputs that are not initializers (weights), in order."""
    initializers = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in initializers]


def _declared(value_info: Any) -> tuple[int | str, ...]:
    """An input's declared shape: sizes, and the names of free axes ("?" where unnamed)."""
    dims = value_info.type.tensor_type.shape.dim
    return tuple(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)


def _text(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"
