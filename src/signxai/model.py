"""ModelView: what is explained (the logit), target selection, layer lookup, and restoring the model.

A ``ModelView`` is a context manager around the user's model. Inside it the model is in eval
mode, its parameters do not require gradients (parameter gradients are wasted work for
explanations), denormal floats are flushed (they slow CPU kernels on IG's scaled inputs) and
every hook registered through the view is tracked. On exit, also after an error, all of that
is undone: hooks removed, train/eval mode, ``requires_grad`` and the denormal setting restored.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import nn

from signxai.checks import check_choice, check_module, numpy_tensor
from signxai.errors import (
    InputError,
    LayerError,
    SignXAIError,
    TargetError,
    UnsupportedModelError,
    warn_user,
)
from signxai.output_window import OutputWindow
from signxai.targets import target_weights

#: Sample shapes (and explained outputs) whose outputs were found repeatable, per model
#: (``ModelView.require_repeatable``).
#: For each, whether the output has no autograd path to the input (``ModelView.detached``) and
#: the output activation called as a function that made it, if any.
_REPEATABLE: weakref.WeakKeyDictionary[
    nn.Module, dict[tuple[tuple[int, ...], str], tuple[bool, tuple[str, str] | None]]
] = weakref.WeakKeyDictionary()

#: Output activations that are bypassed so that the logit behind them is explained.
OUTPUT_ACTIVATIONS = (nn.Sigmoid, nn.Softmax, nn.LogSoftmax)
#: The autograd nodes of the same activations called as functions (which cannot be bypassed):
#: the function's name and the module that would be bypassed.
FUNCTIONAL_ACTIVATIONS = {
    "SoftmaxBackward0": ("softmax", "Softmax"),
    "LogSoftmaxBackward0": ("log_softmax", "LogSoftmax"),
    "SigmoidBackward0": ("sigmoid", "Sigmoid"),
}
#: The autograd nodes of operations that only reshape (squeeze, view, flatten): seen through
#: from the output to the activation that made it.
RESHAPES = frozenset(
    {
        "ViewBackward0",
        "UnsafeViewBackward0",
        "ReshapeAliasBackward0",
        "SqueezeBackward0",
        "SqueezeBackward1",
        "SqueezeBackward2",
        "UnsqueezeBackward0",
    }
)
FEATURE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
INPUT_RANK = {nn.Linear: 2, nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}


def reshaped(output: torch.Tensor, activated: torch.Tensor) -> bool:
    """Whether ``output`` is ``activated``, reshaped (squeezed, flattened, viewed: the same
    memory) or copied (``.clone()``, ``* 1``): the same elements in the same order. Told without
    autograd, so also under ``torch.no_grad()`` (the predicted class is chosen there)."""
    if output is activated:
        return True
    if not (
        isinstance(output, torch.Tensor)
        and output.numel() == activated.numel() > 0
        and output.device == activated.device
        and output.dtype == activated.dtype
    ):
        return False
    if output.is_contiguous() and activated.is_contiguous() and output.data_ptr() == activated.data_ptr():
        return True
    return torch.equal(output.reshape(-1), activated.reshape(-1))


_TINY = torch.tensor([1e-38], dtype=torch.float32)


Method = Callable[["ModelView", torch.Tensor, Any, Mapping[str, Any]], torch.Tensor]


def windowed_as_one_lead(method: Method) -> Method:
    """``method``, which windows signals ``(B, C, T)`` along time, also on signals without a lead
    axis, ``(B, T)``: it runs on them as one lead ``(B, 1, T)`` (the model still receives
    ``(B, T)``, :meth:`ModelView.one_lead`) and the map comes back as ``(B, T)``."""

    @functools.wraps(method)
    def windowed(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
        if x.ndim != 2:
            return method(view, x, target, params)
        with view.one_lead():
            return method(view, x[:, None], target, params)[:, 0]

    return windowed


def first_tensor(model: nn.Module) -> torch.Tensor | None:
    """A parameter or buffer of the model (for its device and dtype), or None."""
    for parameter in model.parameters():
        return parameter
    for buffer in model.buffers():
        return buffer
    return None


def input_placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and dtype the model's input takes: those of :func:`first_tensor` (float32 where
    it is not floating-point; the CPU and float32 for a model with neither)."""
    reference = first_tensor(model)
    if reference is None:
        return torch.device("cpu"), torch.float32
    return reference.device, reference.dtype if reference.is_floating_point() else torch.float32


@contextmanager
def evaluated(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode inside; every submodule's own mode is restored after."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def cudnn_recurrent(modules: Sequence[nn.Module]) -> bool:
    """Whether a recurrent layer (LSTM/GRU/RNN) among ``modules`` runs on CUDA with cuDNN.

    cuDNN's recurrent kernels have no backward pass in eval mode ("cudnn RNN backward can only be
    called in training mode"), so every gradient through such a layer fails on the GPU.
    """
    if not torch.backends.cudnn.enabled:
        return False
    return any(
        isinstance(m, nn.RNNBase) and any(p.is_cuda for p in m.parameters(recurse=False)) for m in modules
    )


#: Held by every :class:`ModelView` from entry to exit (re-entered by a thread's nested views):
#: a view changes process-wide settings (denormals flushed, cuDNN for recurrent layers,
#: torch.compile's stance) and the model itself (hooks, eval mode, ``requires_grad``, BatchNorm
#: merged into weights), each restored on exit, so explanations called from several threads run
#: one after another. Before, two threads explaining one model raised internal errors and left
#: its parameters with ``requires_grad=False`` (each restored what the other had changed).
EXPLAINING = threading.RLock()


Function = TypeVar("Function", bound=Callable[..., Any])


def one_at_a_time(function: Function) -> Function:
    """``function`` holding :data:`EXPLAINING` for its whole call: also while a Keras or ONNX
    model is converted and proved on ``x`` (a forward pass of the cached converted module, which
    another thread's explanation may have hooks on), not only inside its ``ModelView``."""

    @functools.wraps(function)
    def holding(*args: Any, **kwargs: Any) -> Any:
        with EXPLAINING:
            return function(*args, **kwargs)

    return cast(Function, holding)  # the same signature, for type checkers and help()


def denormals_flushed() -> bool:
    """Whether torch currently flushes denormal floats to zero (torch has no getter for it)."""
    return bool((_TINY * 0.01).item() == 0.0)


_MODEL_FAILURE = "signxai: raised while the model ran"


def raised_by_model(error: BaseException) -> bool:
    """Whether ``error`` came from inside the model's forward pass (noted by :func:`note_model_failure`)."""
    return any(note.startswith(_MODEL_FAILURE) for note in getattr(error, "__notes__", ()))


#: Python's words for a call with the wrong arguments (``forward() missing 1 required positional
#: argument: 'age'``, ``takes 2 positional arguments but 3 were given``, an unexpected keyword).
_WRONG_CALL = r"\.forward\(\) (missing \d+ required|takes \d+ positional|got an unexpected keyword)"


def note_model_failure(
    error: BaseException,
    x: torch.Tensor,
    args: int = 0,
    kwargs: Sequence[str] = (),
    model: nn.Module | None = None,
) -> None:
    """Add to an error raised inside the model's forward pass the input signxai gave it.

    ``args`` and ``kwargs``: how many further inputs (``forward_args``) and which named ones
    (``forward_kwargs``) the call passed after ``x`` to ``model``; Python's error for a call of
    *its* forward with the wrong arguments (not of a submodule's, a bug of the model) is noted
    with them. The error keeps its type and message (the user's own exceptions stay catchable as
    they are); the note shows in its traceback. signxai's own errors, which say what is wrong
    already, get none, and Python 3.10 (no ``add_note``) none either.
    """
    add_note = getattr(error, "add_note", None)
    if isinstance(error, SignXAIError) or add_note is None:
        return
    called = type(getattr(model, "_orig_mod", model)).__name__  # a compiled model's own class
    if (
        model is not None
        and isinstance(error, TypeError)
        and re.match(re.escape(called) + _WRONG_CALL, str(error))
    ):
        given = ["x", *(["*forward_args"] if args else []), *(f"{key}=" for key in kwargs)]
        note = (
            f"{_MODEL_FAILURE}, called as forward({', '.join(given)}) ({args} forward_args, "
            f"{len(kwargs)} forward_kwargs): give the inputs its forward takes besides x with "
            "explain's forward_args=[...] (after x, in order) and forward_kwargs={...} (by name)"
        )
    else:
        note = (
            f"{_MODEL_FAILURE} on an input of shape {tuple(x.shape)} "
            f"(per sample {tuple(x.shape[1:])}, {str(x.dtype).removeprefix('torch.')}); if the model "
            "takes samples of another shape, give x that shape (batch axis first; one sample without it)"
        )
    if note not in getattr(error, "__notes__", ()):
        add_note(note)


def _constant(value: Any) -> Any:
    """A further forward input as a constant: numpy arrays as tensors, tensors detached."""
    if isinstance(value, np.ndarray):
        value = numpy_tensor(value)
    return value.detach() if isinstance(value, torch.Tensor) else value


def _rows(value: Any, rows: int, like: torch.Tensor) -> Any:
    """A batched further input for a run on ``rows`` rows, on ``like``'s device.

    The methods stack ``k`` copies of the batch (``k * B`` rows, copy after copy) or probe its
    first rows; floating-point tensors take ``like``'s dtype, as ``x`` takes the model's; other
    values pass unchanged.
    """
    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        return value
    value = value.to(like.device, like.dtype if value.is_floating_point() else value.dtype)
    batch = value.shape[0]
    if rows == batch:
        return value
    if rows < batch:
        return value[:rows]
    if rows % batch:
        raise InputError(f"internal error: {rows} rows are no whole number of batches of {batch}")
    return value.repeat(rows // batch, *([1] * (value.ndim - 1)))


class ModelView:
    """The user's model as the explanation methods see it.

    Parameters
    ----------
    model
        The ``nn.Module`` to explain.
    explain_output
        ``'logit'`` (default): a trailing Sigmoid/Softmax/LogSoftmax module is bypassed and the
        value before it is explained. ``'activation'``: the model output as it is.
    forward_args, forward_kwargs
        Further inputs of the model's ``forward`` after ``x`` (e.g. age and sex next to the
        ECG), held constant: each tensor (numpy arrays are converted) has ``x``'s batch axis
        first and is repeated or sliced with ``x`` wherever a method runs the model on more or
        fewer rows (integrated gradients' steps, SmoothGrad's samples, one-sample probes).
        Other values are passed as they are.
    """

    def __init__(
        self,
        model: nn.Module,
        explain_output: str = "logit",
        forward_args: Sequence[Any] | None = None,
        forward_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_module(model, error=UnsupportedModelError)
        check_choice(explain_output, "explain_output", ("logit", "activation"), TargetError)
        self.model = model
        self.explain_output = explain_output
        if forward_args is not None and not isinstance(forward_args, (tuple, list)):
            raise InputError(
                f"forward_args must be a tuple or list of the forward's further inputs, got "
                f"{type(forward_args).__name__}"
            )
        if forward_kwargs is not None and not isinstance(forward_kwargs, dict):
            raise InputError(f"forward_kwargs must be a dict, got {type(forward_kwargs).__name__}")
        self.forward_args = [_constant(value) for value in forward_args or ()]
        self.forward_kwargs = {key: _constant(value) for key, value in (forward_kwargs or {}).items()}
        #: TorchScript modules run without Python hooks: no logit tap, no hook-based method.
        self.scripted = isinstance(model, torch.jit.ScriptModule)
        #: TorchScript submodules of an eager model: hooks and function modes do not reach inside.
        self.scripted_parts: list[str] = []
        for name, module in model.named_modules():
            outermost = self.in_scripted_part(name) is None
            if name and not self.scripted and outermost and isinstance(module, torch.jit.ScriptModule):
                self.scripted_parts.append(name)
        #: torch.export / fx graphs call functions, not modules: no module to hook either.
        self.exported = isinstance(model, torch.fx.GraphModule)
        self._handles: list[Any] = []
        self._saved: dict[str, Any] = {}
        self._last_activation: tuple[nn.Module, torch.Tensor, torch.Tensor] | None = None
        #: The trailing activation module bypassed in the last forward pass, if any.
        self.bypassed: nn.Module | None = None
        #: An output softmax/log_softmax/sigmoid called as a function (not bypassable), if any,
        #: found by ``require_repeatable`` in a plain run of the model.
        self.unbypassed: tuple[str, str] | None = None
        self._inside = False
        #: Whether the model's own output has no autograd path to ``x`` (a forward run under
        #: ``torch.no_grad()`` or detached), found by ``require_repeatable``.
        self.detached = False
        #: Every module of the model (one traversal per view, taken on entering).
        self.modules: list[nn.Module] = []
        #: The model's :class:`~signxai.output_window.OutputWindow` modules, keeping their
        #: model's scores while the logit is explained (found on entering).
        self.windows: list[OutputWindow] = []
        #: The model's OutputWindows with a window per sample (found on entering), and the
        #: sample of each row of the batch (``check_forward_inputs``; sliced by ``rows``): before
        #: each run the windows learn the samples of its rows.
        self.sample_windows: list[OutputWindow] = []
        self.sample_rows: torch.Tensor | None = None
        #: Whether the model is, or holds, a ``torch.compile``'d module (found on entering).
        self.compiled = False
        #: Inside :meth:`one_lead`: the methods pass signals ``(B, 1, T)`` that the model takes
        #: without their lead axis, ``(B, T)``.
        self.lead_added = False

    # ----------------------------------------------------------------- the model, restored
    def __enter__(self) -> ModelView:
        EXPLAINING.acquire()
        try:
            return self._enter()
        except BaseException:  # _enter has restored what it changed
            EXPLAINING.release()
            raise

    def _enter(self) -> ModelView:
        model = self.model
        self.modules = modules = list(model.modules())
        parameters = dict.fromkeys(p for m in modules for p in m._parameters.values() if p is not None)
        self._saved = {
            "training": [(m, m.training) for m in modules],
            "requires_grad": [(p, p.requires_grad) for p in parameters],
            "flush": denormals_flushed(),
            "grad_enabled": torch.is_grad_enabled(),
        }
        self._inside = True
        try:
            # a torch.compile'd model (or submodule) runs eagerly here: compiled code ignores the
            # backward hooks of guided backprop and deconvnet (silently wrong maps) and recompiles
            # for every hook the other methods add. Only where torch.compile was used (dynamo
            # imported): importing dynamo (and triton) after TensorFlow crashes the process.
            if "torch._dynamo" in sys.modules:
                self._saved["stance"] = torch.compiler.set_stance("force_eager")
                compiled = sys.modules["torch._dynamo"].eval_frame.OptimizedModule
                self.compiled = any(isinstance(module, compiled) for module in modules)
            # recurrent layers on the GPU run torch's own kernels here (the same function):
            # cuDNN's have no backward in eval mode, and train mode would switch on their dropout
            if cudnn_recurrent(modules):
                self._saved["cudnn"] = True
                torch.backends.cudnn.enabled = False
            windows = [module for module in modules if isinstance(module, OutputWindow)]
            self.sample_windows = [window for window in windows if window.per_sample]
            # an exported graph's train/eval behaviour is fixed at export
            if not self.exported and any(training for _, training in self._saved["training"]):
                model.eval()
            for parameter, requires_grad in self._saved["requires_grad"]:
                if requires_grad:
                    parameter.requires_grad_(False)
            if not self.scripted:
                self._upcast(parameters)
            elif any(p.dtype in (torch.float16, torch.bfloat16) for p in parameters):
                warn_user(
                    "the TorchScript model runs in half precision, in which gradients and relevance "
                    "under- and overflow (maps of zeros); explain a float32 copy (model.float())"
                )
            torch.set_flush_denormal(True)
            # explain() called under torch.inference_mode(): gradients need it off for the call
            # (before, every gradient method said the model's output had no gradient)
            self._saved["inference"] = torch.inference_mode(False)
            self._saved["inference"].__enter__()
            torch.set_grad_enabled(True)
            if self.scripted:
                self._check_scripted_output()
            elif self.exported:
                self._check_graph_output()
            elif self.explain_output == "logit":
                for module in modules:
                    if isinstance(module, OUTPUT_ACTIVATIONS):
                        self.add_hook(module.register_forward_hook(self._record_activation))
                # an OutputWindow keeps its model's scores while it is explained, so that a
                # Softmax/Sigmoid module before its window is bypassed too
                self.windows = windows
                for window in self.windows:
                    window.keep(True)
        except BaseException:
            self._restore()
            raise
        return self

    def _upcast(self, parameters: dict[nn.Parameter, None]) -> None:
        """Run a float16/bfloat16 model in float32 for the call: its half-precision parameters and
        buffers get float32 copies, and ``__exit__`` puts the originals back (the same tensors).

        Gradients and relevance under- and overflow in half precision (LRP maps of zeros,
        DeepLIFT's quotients of tiny differences inf); every value of a half-precision tensor is
        exact in float32, so the float32 model computes the same function, without that loss.
        """
        half = (torch.float16, torch.bfloat16)
        data = [(p, p.data) for p in parameters if p.dtype in half]
        buffers = [
            (module, name, buffer)
            for module in self.modules
            for name, buffer in module._buffers.items()
            if buffer is not None and buffer.dtype in half
        ]
        if not data and not buffers:
            return
        self._saved["upcast"] = (data, buffers)
        for parameter, original in data:
            parameter.data = original.float()
        for module, name, buffer in buffers:
            module._buffers[name] = buffer.float()
        kinds = sorted(
            {str(t.dtype).removeprefix("torch.") for t in [*(d for _, d in data), *(b for *_, b in buffers)]}
        )
        warn_user(
            f"the model's {' and '.join(kinds)} parameters are explained in float32 (copied for the "
            "call, the model's own tensors restored after it): gradients and relevance under- and "
            "overflow in half precision"
        )

    def __exit__(self, *exc: object) -> None:
        try:
            self._restore()
        finally:
            EXPLAINING.release()

    def _restore(self) -> None:
        self.remove_hooks()
        if "upcast" in self._saved:
            data, buffers = self._saved.pop("upcast")
            for parameter, original in data:
                parameter.data = original
            for module, name, buffer in buffers:
                module._buffers[name] = buffer
        for module, training in self._saved.get("training", []):
            if module.training != training:
                module.training = training
        for parameter, requires_grad in self._saved.get("requires_grad", []):
            if parameter.requires_grad != requires_grad:
                parameter.requires_grad_(requires_grad)
        if "stance" in self._saved:
            self._saved.pop("stance").__exit__(None, None, None)
        if self._saved.pop("cudnn", False):
            torch.backends.cudnn.enabled = True
        if "flush" in self._saved:
            torch.set_flush_denormal(self._saved["flush"])
            torch.set_grad_enabled(self._saved["grad_enabled"])
        if "inference" in self._saved:
            self._saved.pop("inference").__exit__(None, None, None)
        for window in self.windows:
            window.keep(False)
        self.windows = []
        for window in self.sample_windows:
            window.rows = None
        self.sample_windows = []
        self.sample_rows = None
        self._last_activation = None
        self._inside = False

    def _check_scripted_output(self) -> None:
        names = {getattr(m, "original_name", "") for m in self.model.modules()}
        found = names & {cls.__name__ for cls in OUTPUT_ACTIVATIONS}
        if self.explain_output == "logit" and found:
            raise UnsupportedModelError(
                f"the TorchScript model contains {', '.join(sorted(found))}, which cannot be "
                "bypassed without hooks to explain the logit; pass explain_output='activation' to "
                "explain its output as it is, or use the eager model (a state dict and its class)"
            )

    def _check_graph_output(self) -> None:
        graph: Any = getattr(self.model, "graph")  # noqa: B009 (typed as Tensor | Module)
        output = next(node for node in graph.nodes if node.op == "output")
        last = output.args[0][0] if isinstance(output.args[0], (tuple, list)) else output.args[0]
        name = str(getattr(last, "target", ""))
        final = [k for k in ("sigmoid", "softmax", "log_softmax") if k in name.lower()]
        if self.explain_output == "logit" and final:
            raise UnsupportedModelError(
                f"the exported model ends in {final[-1]} inside its graph, which cannot be "
                "bypassed to explain the logit; export it without the final activation, pass "
                "explain_output='activation', or use the eager model"
            )

    def require_hooks(self, method: str, whole: bool = True) -> None:
        """Raise if the model cannot carry the module hooks ``method`` needs (``whole``: a method
        that must see every operation, which TorchScript submodules hide)."""
        if self.scripted or self.exported:
            kind = "TorchScript modules" if self.scripted else "exported (torch.export/fx) graphs"
            raise UnsupportedModelError(
                f"{method} needs module hooks on the model's layers, which {kind} do not "
                "support; use the eager model (a state dict and its class), or a gradient-type "
                "method"
            )
        if whole and self.scripted_parts:
            parts = ", ".join(f"'{name}'" for name in self.scripted_parts[:5])
            raise UnsupportedModelError(
                f"{method} must see every operation of the model, and its TorchScript submodules "
                f"({parts}) hide theirs from hooks and function modes (their ReLUs, layers and "
                "activations would keep their plain gradient); use their eager modules, or a "
                "gradient-type method"
            )

    def in_scripted_part(self, name: str) -> str | None:
        """The TorchScript submodule that holds the module ``name``, if any."""
        return next((p for p in self.scripted_parts if name == p or name.startswith(p + ".")), None)

    def add_hook(self, handle: Any) -> Any:
        """Track a hook handle so that it is removed when the view closes."""
        self._handles.append(handle)
        return handle

    def remove_hooks(self) -> None:
        """Remove every hook registered through this view."""
        while self._handles:
            self._handles.pop().remove()

    # ----------------------------------------------------------------- the explained output
    def _record_activation(
        self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor):
            self._last_activation = (module, output, inputs[0])

    def check_forward_inputs(self, batch: int) -> None:
        """Raise unless every tensor of ``forward_args``/``forward_kwargs`` has ``batch`` rows,
        and every OutputWindow with windows per sample has ``batch`` windows."""
        for window in self.sample_windows:
            if window.count != batch:
                raise InputError(
                    f"OutputWindow start/stop give {window.count} windows, one per sample, but x has "
                    f"{batch} sample(s)"
                )
        self.sample_rows = torch.arange(batch)
        named = [(f"forward_args[{i}]", v) for i, v in enumerate(self.forward_args)]
        named += [(f"forward_kwargs[{k!r}]", v) for k, v in self.forward_kwargs.items()]
        for name, value in named:
            if isinstance(value, torch.Tensor) and (value.ndim == 0 or value.shape[0] != batch):
                raise InputError(
                    f"{name} must have x's batch axis first ({batch} rows; one sample: a batch of "
                    f"one), got shape {tuple(value.shape)}"
                )

    @contextmanager
    def rows(self, start: int, stop: int) -> Iterator[None]:
        """Within the block, the further inputs are those of samples ``start:stop`` (the methods
        then run on that part of the batch; :mod:`signxai.methods.parts`)."""
        args, kwargs = self.forward_args, self.forward_kwargs

        def part(value: Any) -> Any:
            batched = isinstance(value, torch.Tensor) and value.ndim > 0
            return value[start:stop] if batched else value

        samples = self.sample_rows
        self.forward_args = [part(value) for value in args]
        self.forward_kwargs = {key: part(value) for key, value in kwargs.items()}
        self.sample_rows = part(samples)
        try:
            yield
        finally:
            self.forward_args, self.forward_kwargs = args, kwargs
            self.sample_rows = samples

    def forward_in_parts(self, x: torch.Tensor, size: int) -> torch.Tensor:
        """:meth:`forward` of the batch ``x`` in parts of ``size`` samples, each part with its
        samples' further inputs and output windows (:meth:`rows`), joined."""
        if x.shape[0] <= size:
            return self.forward(x)
        parts = []
        for start in range(0, x.shape[0], size):
            with self.rows(start, start + size):
                parts.append(self.forward(x[start : start + size]))
        return torch.cat(parts)

    def call(self, x: torch.Tensor) -> Any:
        """The model on ``x`` with the further inputs, repeated or sliced to ``x``'s rows.

        An error the model raises is raised as it is, with a note (Python 3.11+) saying on what
        input signxai ran it: a wrong input length fails deep inside the model with torch's own
        message (``mat1 and mat2 shapes cannot be multiplied``).
        """
        if self.lead_added:
            x = x[:, 0]
        if self.sample_windows:
            # the rows are samples of the batch as the further inputs are: repeated or cut alike
            rows = None if self.sample_rows is None else _rows(self.sample_rows, x.shape[0], x)
            for window in self.sample_windows:
                # before the batch is known (trying readings of x, a shape probe) any window fits
                window.rows = (
                    torch.arange(x.shape[0], device=x.device) % window.count if rows is None else rows
                )
        try:
            if not self.forward_args and not self.forward_kwargs:
                return self.model(x)
            rows = x.shape[0]
            args = [_rows(value, rows, x) for value in self.forward_args]
            kwargs = {key: _rows(value, rows, x) for key, value in self.forward_kwargs.items()}
            return self.model(x, *args, **kwargs)
        except Exception as error:
            note_model_failure(error, x, len(self.forward_args), list(self.forward_kwargs), self.model)
            raise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the model and return the explained output as ``(B, K)`` (the logits)."""
        self._last_activation = None
        self.bypassed = None
        output = self.call(x)
        if not isinstance(output, torch.Tensor):
            kind, pick = type(output).__name__, "[0]"
            if isinstance(output, (tuple, list)):
                kind += f" of {len(output)}"
            elif isinstance(output, dict):
                kind += f" with keys {sorted(map(str, output))}"
                pick = f"[{next(iter(output))!r}]" if output else pick
            raise UnsupportedModelError(
                f"the model must return one tensor of logits, it returned a {kind}; explain a "
                "wrapper module whose forward returns the one to explain, e.g. "
                f"`return self.model(x){pick}`"
            )
        if not output.is_floating_point():
            raise UnsupportedModelError(
                f"the model must return real scores (floating point), it returned {output.dtype} "
                f"values of shape {tuple(output.shape)}: class indices or labels (argmax, a "
                "threshold) have no relevance to explain, nor have complex values; explain a "
                "module that returns the scores before them"
            )
        if self._last_activation is not None:
            module, activated, logits = self._last_activation
            if reshaped(output, activated):  # also squeezed or flattened after it: p.squeeze(1)
                self.bypassed, output = module, logits.reshape(output.shape)
            elif (found := self._window_returning(output)) is not None and reshaped(found[1], activated):
                window, scores = found  # the window of the logits
                self.bypassed, output = module, window.window(logits.reshape(scores.shape))
        self._last_activation = None
        if self.detached and x.requires_grad and torch.is_grad_enabled() and not output.requires_grad:
            raise UnsupportedModelError(
                "the model's output has no gradient with respect to x: its forward computes it "
                "under torch.no_grad() or detaches it (.detach(), a round trip through numpy), so "
                "gradient-based methods have nothing to explain; remove that from the forward, or "
                "use a method that only runs the model (occlusion, kernel_shap)"
            )
        if output.ndim > 2 and all(size == 1 for size in output.shape[2:]):
            output = output.flatten(1)  # a head without a flatten: (B, K, 1) from a 1x1 conv
        if x.shape[0] == 1 and output.ndim < 2 and output.numel() > 0:
            # one sample through a model that squeezes its output (.squeeze()): (1, K) became
            # (K,), (1, 1) a scalar; a batch keeps its axis under the same squeeze
            output = output.reshape(1, -1)
        elif output.ndim == 1:
            output = output[:, None]
        if output.ndim != 2 or output.shape[0] != x.shape[0]:
            hint = ""
            if output.ndim == 3 and output.shape[0] == x.shape[0]:
                hint = (
                    " (an output per time step: explain signxai.OutputWindow(model, start, stop), "
                    "its scores of steps start to stop - 1 summed per class, or wrap the model so "
                    "that it returns the scores to explain as (batch, classes))"
                )
            elif output.ndim > 3 and output.shape[0] == x.shape[0]:
                hint = (
                    " (an output per pixel: wrap the model so that it returns the scores to "
                    "explain, e.g. the sum over a region, as (batch, classes))"
                )
            raise UnsupportedModelError(
                "the model output must be (batch, classes); for a batch of "
                f"{x.shape[0]} sample(s) of shape {tuple(x.shape[1:])} it is {tuple(output.shape)}{hint}"
            )
        return output

    @contextmanager
    def one_lead(self) -> Iterator[None]:
        """Inside this context the methods pass signals ``(B, 1, T)`` and the model receives them
        as ``(B, T)``: for methods that window signals along their time axis, on inputs without a
        lead axis (a single-lead model that adds the axis itself)."""
        self.lead_added = True
        try:
            yield
        finally:
            self.lead_added = False

    def require_repeatable(self, x: torch.Tensor) -> None:
        """Raise if the model gives one sample of ``x`` two different outputs in eval mode.

        Something random that stays on at inference (dropout called with ``training=True``, as
        in Monte-Carlo dropout; added noise) or state kept between calls would make every
        method's map change from call to call. Checked once per model and sample shape, on
        one sample, with the random number generators forked (the user's stay where they were).

        The second pass runs with gradients on: where the output then has no autograd path to
        the input, ``detached`` is set, and ``forward`` refuses to serve gradient-based methods.

        Raises
        ------
        UnsupportedModelError
            The two outputs differ by more than 1e-4 of their largest magnitude.
        """
        seen = _REPEATABLE.setdefault(self.model, {})
        # per explained output too: the output activation module is seen only when it is bypassed
        key = (tuple(x.shape[1:]), self.explain_output)
        if key in seen:
            self.detached, found = seen[key]
            self._note_functional_activation(found)
            return
        sample = x[:1].detach()
        devices = [sample.device] if sample.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            with torch.no_grad():
                first = self.call(sample)
            with torch.enable_grad():  # the second also tells whether the output depends on x
                self._last_activation = None
                second = self.call(sample.clone().requires_grad_())
        found = None
        if isinstance(second, torch.Tensor):
            self.detached = not second.requires_grad
            # seen here, in a plain run: LRP's and DeepLIFT's passes replace the output's node
            found = self._functional_activation(second)
        self._last_activation = None
        self._note_functional_activation(found)
        # outputs that are no scores (a tuple, class indices) are refused by forward, by name
        comparable = all(isinstance(out, torch.Tensor) and out.is_floating_point() for out in (first, second))
        if comparable and first.shape == second.shape and first.numel():
            scale = float(first.abs().max())  # computed without gradients
            difference = float((first - second.detach()).abs().max())
            if difference > 1e-4 * scale + 1e-12:
                raise UnsupportedModelError(
                    "the model gives different outputs for the same input in eval mode (largest "
                    f"difference {difference:.3g}, outputs up to {scale:.3g}): something random stays "
                    "on at inference (dropout called with training=True, as in Monte-Carlo dropout; "
                    "added noise) or the model keeps state between calls, so every map would change "
                    "from call to call; explain a deterministic version (e.g. dropout as nn.Dropout "
                    "modules, which eval mode turns off)"
                )
        seen[key] = (self.detached, found)

    def _window_returning(self, output: torch.Tensor) -> tuple[OutputWindow, torch.Tensor] | None:
        """The OutputWindow that returned ``output`` (the model's output) and the scores of its
        model that it reduced, if any."""
        for window in self.windows:
            if window.windowed is output and window.scores is not None:
                return window, window.scores
        return None

    def _functional_activation(self, output: torch.Tensor) -> tuple[str, str] | None:
        """The output softmax/log_softmax/sigmoid called as a function that made ``output`` (also
        squeezed or reshaped after it), or the scores an OutputWindow reduced to ``output`` (none
        where it came from a module, which ``forward`` bypasses)."""
        if (found := self._window_returning(output)) is not None:
            output = found[1]
        if self._last_activation is not None and reshaped(output, self._last_activation[1]):
            return None
        node = output.grad_fn
        while node is not None and type(node).__name__ in RESHAPES and node.next_functions:
            node = node.next_functions[0][0]
        return FUNCTIONAL_ACTIVATIONS.get(type(node).__name__) if node is not None else None

    def _note_functional_activation(self, found: tuple[str, str] | None) -> None:
        """Remember ``found`` for the warning, unless the output is explained as it is."""
        if found is not None and self.explain_output == "logit":
            self.unbypassed = found

    def warn_unbypassed(self) -> None:
        """Warn if an output activation called as a function was explained instead of the logit."""
        if self.unbypassed is not None:
            function, module = self.unbypassed
            warn_user(
                f"the model's output comes from a {function} called as a function, not as a "
                f"module, which cannot be bypassed: the {function} output is explained, not the "
                f"logit. Use an nn.{module} module (bypassed) or return the "
                "logits, or pass explain_output='activation' to explain the output as it is"
            )

    # ----------------------------------------------------------------- targets
    def target_weights(self, target_class: Any, logits: torch.Tensor) -> torch.Tensor:
        """The ``(B, K)`` weights that select the explained output of each sample
        (:func:`signxai.targets.target_weights`: the target class, or a :class:`Contrast`)."""
        return target_weights(target_class, logits)

    # ----------------------------------------------------------------- layers
    def named_layers(self) -> dict[str, nn.Module]:
        """Every module by dotted name (the root is ``''``)."""
        return dict(self.model.named_modules())

    def conv_layers(self) -> list[tuple[str, nn.Module]]:
        """The Conv layers (dotted name, module) outside TorchScript submodules, which cannot
        carry hooks; an error where there are none."""
        convs: list[tuple[str, nn.Module]] = [
            (n, m)
            for n, m in self.named_layers().items()
            if isinstance(m, FEATURE_LAYERS) and self.in_scripted_part(n) is None
        ]
        if not convs:
            raise LayerError(
                "target_layer=None picks the last Conv layer, but the model has none (outside "
                "TorchScript submodules); pass target_layer= naming a module whose output is a "
                "feature map"
            )
        return convs

    def find_layer(self, target_layer: Any) -> tuple[str, nn.Module]:
        """Resolve ``target_layer`` (dotted name or module)."""
        layers = self.named_layers()
        if isinstance(target_layer, nn.Module):
            for name, module in layers.items():
                if module is target_layer:
                    return name, module
            raise LayerError("target_layer is a module that is not part of the model")
        if isinstance(target_layer, str):
            if target_layer in layers and target_layer:
                return target_layer, layers[target_layer]
            import difflib

            names = [n for n in layers if n]
            close = difflib.get_close_matches(target_layer, names, n=5, cutoff=0.5)
            shown = close or names[:20]
            raise LayerError(
                f"target_layer '{target_layer}' is not a module of the model; candidates: {', '.join(shown)}"
            )
        raise LayerError(
            f"target_layer must be a dotted module name, a module or None, got {type(target_layer).__name__}"
        )

    def first_layer(self) -> nn.Module | None:
        """The first module (in registration order) that owns parameters, if it is Linear/Conv.

        Its rank and input size are the guess at what ``x`` should look like; anything else first
        (an LSTM, an embedding, a custom module) gives None.
        """
        for module in self.model.modules():
            if any(True for _ in module.parameters(recurse=False)):
                return module if type(module) in INPUT_RANK else None
        return None
