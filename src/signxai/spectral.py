"""Relevance per frequency: the model explained as a function of its input's spectrum.

``explain_spectrum`` answers *which frequencies of this signal made the model decide this*
(Vielhaben et al. 2024, "Explainable AI for time series via virtual inspection layers",
Pattern Recognition 150, 110309: DFT-LRP). The signal x (time on the last axis, length T) is
written as its real discrete Fourier transform X (``torch.fft.rfft``, ``norm='forward'``: F =
T // 2 + 1 bins) in real form, the real parts of the F bins followed by their imaginary parts.
A *virtual inspection layer*, the inverse transform as a bias-free ``nn.Linear`` (2F -> T), is
put in front of the model, so that ``model(inverse(X))`` is ``model(x)``; then any method that
assigns relevance per input element explains that composed model at X. The relevance of a
frequency bin is the sum of its real and imaginary parts' relevance.

What each method becomes:

- gradient-type methods: the gradient with respect to X; ``gradient_x_input`` is X * dz/dX,
  whose bins sum to the time-domain ``gradient_x_input``'s sum (the inverse is linear and
  bias-free); Integrated Gradients from the spectrum of the baseline (default 0, the zero
  signal) keeps completeness, the bins summing to z(x) - z(baseline);
- the LRP family: the virtual layer is the model's first Linear layer, so the input-layer
  prefix chooses its rule: ``lrpz_`` gives it the z-rule (DFT-LRP as published: every bin's
  share of each sample's relevance, conserving the time-domain relevance), ``lrpsign_`` the SIGN
  rule on the coefficients (sign(X) instead of X: relevance independent of each coefficient's
  magnitude, as SIGN is of the amplitude in time), ``lrp_`` the rule of the other layers; the
  model's own first layer then takes the rule of the other layers;
- SmoothGrad/VarGrad add their noise to X (its level relative to the range of X), DeepLIFT and
  Gradient SHAP take their references as time-domain signals and use their spectra.

Occlusion (``occlusion[_window_<w>][_stride_<s>]``, model-agnostic: forward passes only) hides
frequency bands instead of time windows: windows of ``w`` adjacent bins, ``s`` apart, have both
coefficients of each bin set to the baseline's spectrum (0 by default: the band removed, an ideal
band stop), and each bin's relevance is the mean drop of the explained output over the bands
covering it (per bin only: ``parts`` is None). Kernel SHAP (``kernel_shap[_window_<w>]``) does
the same with bands of ``w`` adjacent bins as players: each bin carries its band's Shapley
value, the values summing to z(x) - z(baseline) over the bands. Grad-CAM (a layer's time axis)
has no per-coefficient form here and is refused.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from signxai.api import explain
from signxai.checks import check_number
from signxai.errors import InputError, MethodParameterError, UnsupportedModelError
from signxai.frontends.keras_check import is_keras_input
from signxai.frontends.onnx_model import is_onnx_model, onnx_input
from signxai.inputs import as_batch
from signxai.methods import parse
from signxai.methods.gradient import baseline_like, references_like
from signxai.methods.kernel_shap import kernel_shap_bins
from signxai.methods.occlusion import occlude_bins
from signxai.methods.registry import MethodSpec
from signxai.model import ModelView, one_at_a_time

#: Method kinds that assign relevance per input element, so per spectral coefficient.
_PER_ELEMENT = ("gradient", "shap", "reference", "lrp")
#: Perturbation methods over bands of bins (and frames) rather than coefficients: each gives
#: relevance per bin (and frame) from ``(view, coefficients, target, params, framed)``.
PER_BAND: dict[str, Callable[..., torch.Tensor]] = {
    "occlusion": occlude_bins,
    "kernel_shap": kernel_shap_bins,
}
#: The samples on which the model's output on the rebuilt signal is compared with its output on x.
PARITY_SAMPLES = 4
#: The largest inverse DFT matrix built (2F x T elements; 2**28 is 1 GiB in float32, a signal of
#: about 16,000 samples).
MAX_BASIS_ELEMENTS = 2**28


@dataclass(frozen=True)
class SpectralRelevance:
    """Relevance per frequency bin of each sample's and channel's real DFT.

    Attributes
    ----------
    relevance
        ``(B, C, F)`` (or ``(B, F)`` / ``(C, F)`` / ``(F,)``, as ``x`` had no channel or batch
        axis): the relevance of each bin, its real and imaginary parts summed.
    parts
        The same with the real and imaginary parts apart: ``relevance``'s shape with an axis of
        two before the bins; None for occlusion, which hides a bin's two parts together.
    frequencies
        ``(F,)``: the bins' frequencies in Hz (with ``fs``) or in cycles per sample.
    amplitude
        The amplitude of each bin's sinusoid in x (in x's units; the mean at 0 Hz).
    fs
        The sampling rate given, or None.
    method
        The method's canonical name.
    axes
        The names of ``relevance``'s axes: ``('sample', 'channel', 'bin')``, or without
        ``'sample'`` / ``'channel'`` where ``x`` had no such axis.
    length
        The signal's number of samples T (bin k is k / T cycles per sample, the k-th harmonic of
        the whole signal).
    delta
        With ``return_convergence_delta=True`` (Integrated Gradients, DeepLIFT): per sample, the
        relevance's sum minus the output's change from the baseline; else None.
    """

    relevance: np.ndarray
    parts: np.ndarray | None
    frequencies: np.ndarray
    amplitude: np.ndarray
    fs: float | None
    method: str
    axes: tuple[str, ...]
    length: int
    delta: np.ndarray | None = None

    @staticmethod
    def concatenate(parts: Sequence[SpectralRelevance]) -> SpectralRelevance:
        """The relevance of consecutive parts of a batch (explained one part per call) as one
        result: the per-sample fields joined along the batch axis, the rest from the first part."""

        def joined(name: str) -> Any:
            values = [getattr(part, name) for part in parts]
            return None if values[0] is None else np.concatenate(values)

        per_sample = ("relevance", "parts", "amplitude", "delta")
        return dataclasses.replace(parts[0], **{name: joined(name) for name in per_sample})

    def bands(self, edges: Mapping[str, tuple[float, float]]) -> dict[str, np.ndarray]:
        """Sum the relevance over frequency bands.

        Parameters
        ----------
        edges
            Band name -> ``(low, high)``, in the unit of ``frequencies``; a bin belongs to a band
            when ``low <= f < high`` (the last bin, at the Nyquist frequency, also when
            ``f == high``).

        Returns
        -------
        dict
            Band name -> relevance summed over the band's bins, ``relevance``'s shape without
            the bin axis.

        Raises
        ------
        MethodParameterError
            A band is not two numbers with low < high, or holds no bin.
        """
        return sum_bands(self.relevance, self.frequencies, self.fs, edges)


def sum_bands(
    relevance: np.ndarray,
    frequencies: np.ndarray,
    fs: float | None,
    edges: Mapping[str, tuple[float, float]],
    skip_empty: bool = False,
) -> dict[str, np.ndarray]:
    """``relevance`` (bins on the last axis, at ``frequencies``) summed per band ``[low, high)``
    (the last bin also where ``high`` reaches it); see :meth:`SpectralRelevance.bands`. A band
    that holds no bin is an error, or (``skip_empty``) left out of the result."""
    if not isinstance(edges, Mapping):
        raise MethodParameterError(
            f"edges must be a dict of band name -> (low, high), got {type(edges).__name__}"
        )
    sums = {}
    top = float(frequencies[-1])
    for name, band in edges.items():
        try:
            low, high = (float(value) for value in band)
        except (TypeError, ValueError):
            raise MethodParameterError(f"edges['{name}'] must be (low, high), got {band!r}") from None
        if not low < high:
            raise MethodParameterError(f"edges['{name}'] needs low < high, got ({low:g}, {high:g})")
        inside = band_mask(frequencies, low, high)
        if not inside.any() and skip_empty:
            continue
        if not inside.any():
            unit = "Hz" if fs is not None else "cycles per sample"
            raise MethodParameterError(
                f"edges['{name}'] = ({low:g}, {high:g}) holds no frequency bin (bins at 0 to "
                f"{top:g} {unit}, {float(frequencies[1]):g} apart)"
            )
        sums[name] = relevance[..., inside].sum(axis=-1)
    return sums


def band_mask(frequencies: np.ndarray, low: float, high: float) -> np.ndarray:
    """The bins of ``frequencies`` in the band ``[low, high)`` (the last bin, at the Nyquist
    frequency, also where ``high`` reaches it)."""
    top = float(frequencies[-1])
    return (frequencies >= low) & ((frequencies < high) | ((frequencies == top) & (high >= top)))


def check_fs(fs: object) -> float | None:
    """``fs``: None or a positive, finite sampling rate in Hz (returned as a float)."""
    return None if fs is None else check_number(fs, "fs", above=0, unit="in Hz", error=MethodParameterError)


def inverse_dft(length: int, device: torch.device, dtype: torch.dtype) -> nn.Linear:
    """The virtual inspection layer: ``nn.Linear(2F, T, bias=False)`` mapping the real DFT in
    real form (``norm='forward'``; real parts of the F bins, then imaginary parts) to the signal.

    x_t = sum_k c_k (Re X_k cos(2 pi k t / T) - Im X_k sin(2 pi k t / T)), c_k = 1 at 0 Hz and
    at the Nyquist bin of an even T, else 2 (the bins above F mirror those below).
    """
    elements = 2 * (length // 2 + 1) * length
    if elements > MAX_BASIS_ELEMENTS:
        raise MethodParameterError(
            f"x has {length} samples, so the inverse DFT in front of the model would be a dense "
            f"{length} x {2 * (length // 2 + 1)} matrix ({elements * 4 / 2**30:.1f} GiB in float32); "
            "explain windows of the signal, or use explain_spectrogram (per frame: its virtual "
            "layer grows with the window, not the signal)"
        )
    layer = nn.Linear(2 * (length // 2 + 1), length, bias=False, device="meta")
    layer.weight = nn.Parameter(_basis(length, device, dtype), requires_grad=False)
    return layer


def _basis(length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The inverse DFT's matrix ``(T, 2F)`` (:func:`real_inverse_basis`) in ``dtype`` on ``device``."""
    return real_inverse_basis(length).to(dtype).to(device)  # the dtype on the CPU: MPS has no float64


def harmonic_weights(length: int) -> torch.Tensor:
    """c_k, float64 ``(F,)``: how often bin k of a ``length``-sample real DFT counts in the full
    spectrum, 1 at 0 Hz and at an even length's Nyquist bin, else 2 (its mirror bin too)."""
    weight = torch.full((length // 2 + 1,), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if length % 2 == 0:
        weight[-1] = 1.0
    return weight


def real_inverse_basis(length: int) -> torch.Tensor:
    """float64 ``(T, 2F)``: x_t = sum_k c_k (Re X_k cos(2 pi k t / T) - Im X_k sin(2 pi k t / T))
    (:func:`harmonic_weights`), the inverse of ``rfft(x, norm='forward')`` in real form."""
    t = torch.arange(length, dtype=torch.float64)[:, None]
    k = torch.arange(length // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * torch.pi * ((k * t) % length) / length
    weight = harmonic_weights(length)
    return torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)], dim=1)


def spectrum(x: torch.Tensor) -> torch.Tensor:
    """The real DFT of ``x`` along its last axis in real form (``norm='forward'``): shape
    ``(..., 2F)``, the real parts of the F bins, then their imaginary parts."""
    transform = torch.fft.rfft(exact(x), dim=-1, norm="forward")
    return torch.cat([transform.real, transform.imag], dim=-1).to(x.dtype).to(x.device)


def exact(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float64 for a transform: on its device, or on the CPU where the device has no
    float64 (Apple's MPS)."""
    return x.to("cpu" if x.device.type == "mps" else x.device).to(torch.float64)


class Transform(Protocol):
    """A linear, exactly invertible transform of signals ``(..., T)`` into real coefficients."""

    @property
    def key(self) -> tuple[Any, ...]:
        """What identifies the transform (with the device and dtype: one wrapper per key and
        model)."""
        ...

    @property
    def framed(self) -> bool:
        """Whether the coefficients have a frame axis after the bins' (``(..., 2F, M)``)."""
        ...

    def analyse(self, signal: torch.Tensor) -> torch.Tensor:
        """The coefficients of ``signal`` (batched, time on the last axis)."""
        ...

    def synthesis(self) -> nn.Module:
        """The virtual inspection layer: a module mapping coefficients back to the signal."""
        ...


@dataclass(frozen=True)
class WholeSignalDFT:
    """The real DFT of the whole signal (:func:`spectrum`), inverted by :func:`inverse_dft`."""

    length: int
    device: torch.device
    dtype: torch.dtype

    @property
    def key(self) -> tuple[Any, ...]:
        """``('dft', T)``."""
        return ("dft", self.length)

    @property
    def framed(self) -> bool:
        """False: ``(..., 2F)``."""
        return False

    def analyse(self, signal: torch.Tensor) -> torch.Tensor:
        """:func:`spectrum` of ``signal``."""
        return spectrum(signal)

    def synthesis(self) -> nn.Module:
        """:func:`inverse_dft` for this length."""
        return inverse_dft(self.length, self.device, self.dtype)


class SpectralModel(nn.Module):
    """``model`` preceded by a virtual inspection layer (the inverse of a transform): a function
    of the transform's coefficients.

    The user's model is attached as the submodule ``model`` for one explanation only
    (:func:`spectral_model`), so that a wrapper kept between calls holds no reference to it.
    """

    model: nn.Module

    def __init__(self, inverse: nn.Module) -> None:
        super().__init__()
        self.inverse = inverse

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The model on the signal whose coefficients are ``x``."""
        return self.model(self.inverse(x), *args, **kwargs)


#: One wrapper per model, transform, device and dtype, kept while the model lives: what signxai
#: learns about a model once (how its input reads, its LRP structure) is then learnt once.
_WRAPPERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], SpectralModel]] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def spectral_model(
    model: nn.Module, transform: Transform, device: torch.device, dtype: torch.dtype
) -> Iterator[SpectralModel]:
    """``model`` behind ``transform``'s inverse, for the block inside; the model is detached from
    the wrapper after it, also after an error."""
    wrappers = _WRAPPERS.setdefault(model, {})
    key = (*transform.key, str(device), str(dtype))
    if key not in wrappers:
        wrappers[key] = SpectralModel(transform.synthesis())
    wrapped = wrappers[key]
    wrapped.model = model
    try:
        yield wrapped
    finally:
        del wrapped.model


@dataclass(frozen=True)
class Transformed:
    """What :func:`explain_transformed` computed: the signal batch, its coefficients and their
    relevance (numpy, the coefficients' shape), and how ``x`` was given."""

    signal: torch.Tensor
    coefficients: torch.Tensor
    relevance: np.ndarray
    delta: np.ndarray | None
    unbatched: bool
    spec: MethodSpec


@one_at_a_time
def explain_transformed(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method_name: str,
    target_class: Any,
    make: Callable[[int, torch.device, torch.dtype], Transform],
    explain_output: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> Transformed:
    """Explain ``model`` at the coefficients of ``x`` under the transform ``make(T, device,
    dtype)``, its inverse put in front of the model as a virtual inspection layer.

    ``x`` is read as :func:`signxai.explain` reads it, then must be signals ``(B, C, T)`` or
    ``(B, T)``; a Keras model is converted and proved on ``x`` first (channels-first after), an
    ONNX model converted and proved against onnxruntime.
    Time-domain ``baseline``/``baselines`` are transformed. The model's output on the signal
    rebuilt from its coefficients must be its output on ``x`` (:data:`PARITY_SAMPLES` samples).
    Occlusion hides bands of bins (and frames; :func:`~signxai.methods.occlusion.occlude_bins`):
    its relevance is per bin (and frame), not per coefficient.
    """
    spec = spectral_spec(method_name, params)  # before any work, also a Keras conversion
    if is_keras_input(model):  # converted, proved on x, explained channels-first
        from signxai.frontends.keras import keras_input, to_channels_first

        if forward_args or forward_kwargs:
            raise UnsupportedModelError(
                "forward_args/forward_kwargs: a Keras model is explained on its one input x"
            )
        module, keras_batch, one_sample = keras_input(model, x)
        signals = to_channels_first(keras_batch)
        chosen = signals[0] if one_sample else signals
        return explain_transformed(module, chosen, method_name, target_class, make, explain_output, **params)
    if is_onnx_model(model):  # converted, proved on x against onnxruntime
        model = onnx_input(model, x, forward_args or ())
    with ModelView(model, explain_output, forward_args, forward_kwargs) as view:
        batch = as_batch(x, view)
        signal = batch.tensor
        if signal.ndim not in (2, 3):
            raise InputError(
                "x must be signals with time on the last axis, (B, C, T) or (B, T) or one of "
                f"them, got shape {batch.shape}"
            )
        length = signal.shape[-1]
        if length < 2:
            raise InputError(f"x must have at least 2 time samples on its last axis, got {length}")
        transform = make(length, signal.device, signal.dtype)
        coefficients = transform.analyse(signal)
        with spectral_model(model, transform, signal.device, signal.dtype) as wrapped, torch.no_grad():
            # on a few samples: a property of the model, at a fraction of a pass
            rebuilt = wrapped.inverse(coefficients[:PARITY_SAMPLES])
            _check_parity(view.forward(signal[:PARITY_SAMPLES]), view.forward(rebuilt))
    for name, like in (("baseline", baseline_like), ("baselines", references_like)):
        if params.get(name) is not None:
            params[name] = transform.analyse(like(params[name], signal))
    with spectral_model(model, transform, signal.device, signal.dtype) as wrapped, warnings.catch_warnings():
        # said once per call: the parity check's view above has already warned of a half-precision
        # model explained in float32
        warnings.filterwarnings("ignore", message=r"the model's .* parameters are explained in float32")
        if spec.family.name in PER_BAND:
            spec = parse(method_name, params)  # with the baseline's coefficients
            result: Any = _perturbed_bins(
                wrapped,
                coefficients,
                transform.framed,
                spec,
                target_class,
                explain_output,
                forward_args,
                forward_kwargs,
            )
        else:
            result = explain(
                wrapped,
                coefficients,
                method_name,
                target_class,
                explain_output=explain_output,
                forward_args=forward_args,
                forward_kwargs=forward_kwargs,
                **params,
            )
    relevance, delta = result if isinstance(result, tuple) else (result, None)
    return Transformed(signal, coefficients, relevance, delta, batch.unbatched, spec)


def explain_spectrum(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method_name: str,
    target_class: int | Any | None = None,
    *,
    fs: float | None = None,
    explain_output: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> SpectralRelevance:
    """Explain the model's decision for ``x`` per frequency (see the module's description).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` taking signals with time on the last axis: ``(B, C, T)`` or
        ``(B, T)``; or a Keras model taking ``(B, T, C)`` (converted and proved on ``x`` as by
        :func:`signxai.explain`; the result has channels before bins as for torch).
    x
        The signal(s), batched or one sample, as for :func:`signxai.explain` (Keras layout for a
        Keras model).
    method_name
        A method of the grammar that assigns relevance per input element: gradient-type, LRP,
        DeepLIFT, Gradient SHAP; or occlusion, which hides bands of ``window`` adjacent bins
        (``stride`` apart) set to the baseline's spectrum there, or Kernel SHAP with bands of
        ``window`` bins as players (not Grad-CAM).
    target_class
        As for :func:`signxai.explain`.
    fs
        Sampling rate in Hz, for ``frequencies`` in Hz (default: cycles per sample).
    explain_output, forward_args, forward_kwargs, **params
        As for :func:`signxai.explain`. ``baseline`` / ``baselines`` are time-domain signals
        (or numbers) and are used through their spectra.

    Returns
    -------
    SpectralRelevance
        Relevance per bin (and per real/imaginary part), the bins' frequencies, x's amplitude
        spectrum.

    Raises
    ------
    SignXAIError
        As :func:`signxai.explain`; also ``MethodParameterError`` for a method without a
        per-coefficient form or a bad ``fs``, ``InputError`` for an x that is not a signal.
    """
    fs = check_fs(fs)
    done = explain_transformed(
        model,
        x,
        method_name,
        target_class,
        WholeSignalDFT,
        explain_output,
        forward_args,
        forward_kwargs,
        **params,
    )
    length = done.signal.shape[-1]
    per_bin, parts, amplitude, delta = per_bin_arrays(done, harmonic_weights(length).numpy())
    return SpectralRelevance(
        relevance=per_bin,
        parts=parts,
        frequencies=np.fft.rfftfreq(length, d=1.0 / fs if fs is not None else 1.0),
        amplitude=amplitude,
        fs=fs,
        method=done.spec.name,
        axes=(*signal_axes(done), "bin"),
        length=length,
        delta=delta,
    )


def _perturbed_bins(
    wrapped: SpectralModel,
    coefficients: torch.Tensor,
    framed: bool,
    spec: MethodSpec,
    target_class: Any,
    explain_output: str,
    forward_args: Sequence[Any] | None,
    forward_kwargs: dict[str, Any] | None,
) -> np.ndarray:
    """Occlusion or Kernel SHAP over bands of bins (and frames, ``framed``; :data:`PER_BAND`)
    through the virtual layer: relevance per bin, float32 ``(B, [C,] F[, M])``."""
    with ModelView(wrapped, explain_output, forward_args, forward_kwargs) as view:
        view.require_repeatable(coefficients)
        relevance = PER_BAND[spec.family.name](view, coefficients, target_class, spec.params, framed)
    values = relevance.detach().to("cpu", torch.float32).numpy()
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise UnsupportedModelError(
            f"{spec.name} gave {bad} non-finite relevance values (NaN or inf): the model's output "
            "overflowed or is NaN for x with a band removed"
        )
    return values


def spectral_spec(method_name: str, params: Mapping[str, Any] | None = None) -> MethodSpec:
    """Parse a method for :func:`explain_spectrum` / :func:`~signxai.explain_spectrogram`: one
    with relevance per input element, or occlusion / Kernel SHAP (over bands of bins).

    Raises
    ------
    SignXAIError
        An unknown name or bad parameters (as :func:`signxai.explain`); ``MethodParameterError``
        for Grad-CAM (and guided Grad-CAM).
    """
    spec = parse(method_name, params)
    if spec.family.kind not in _PER_ELEMENT and spec.family.name not in PER_BAND:
        raise MethodParameterError(
            f"method_name '{method_name}' ({spec.family.kind}) has no relevance per spectral "
            "coefficient; explain_spectrum and explain_spectrogram take gradient-type, LRP, DeepLIFT and "
            "Gradient SHAP methods, and occlusion and Kernel SHAP over frequency bands"
        )
    return spec


def _check_parity(want: torch.Tensor, got: torch.Tensor) -> None:
    """Raise if the model's output on the signal rebuilt from its spectrum (``got``) is not its
    output on the signal (``want``): relative 1e-4, absolute 1e-5 of the output's magnitude.

    The rebuilt signal differs from x by the transform's float rounding (~1e-7 relative); a model
    that this changes (a quantiser, a comparison with exact values) would be explained at another
    output than x's."""
    scale = float(want.abs().max().clamp(min=1))
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5 * scale):
        raise UnsupportedModelError(
            "the model's output on x rebuilt from its spectrum (inverse DFT) differs from its output "
            f"on x by {float((got - want).abs().max()):.3g}: the transform's float rounding "
            "changes what the model computes, so its spectrum's relevance would explain another output"
        )


def per_bin_arrays(
    done: Transformed, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """From ``done`` (coefficients: the real parts of F bins, then their imaginary parts, on the
    last axis or before a frame axis): the relevance per bin (the parts summed), the parts apart
    (an axis of two before the bins; None for occlusion and Kernel SHAP, per bin already), the
    amplitude per bin (|X| times ``weights``, one per bin; float32) and the delta, each without
    the sample axis where ``x`` was one sample."""
    axis = done.relevance.ndim - 1 - (done.coefficients.ndim - done.signal.ndim)  # the bins'
    relevance, shape = done.relevance, done.relevance.shape
    parts = None
    if done.spec.family.name not in PER_BAND:
        parts = relevance.reshape(*shape[:axis], 2, shape[axis] // 2, *shape[axis + 1 :])
        relevance = parts.sum(axis=axis)
    real, imaginary = np.split(done.coefficients.detach().to("cpu", torch.float64).numpy(), 2, axis=axis)
    amplitude = np.hypot(real, imaginary) * weights.reshape(-1, *([1] * (relevance.ndim - 1 - axis)))
    delta = done.delta
    if done.unbatched:
        relevance, amplitude = relevance[0], amplitude[0]
        parts = parts[0] if parts is not None else None
        delta = delta[0] if delta is not None else None
    return relevance, parts, amplitude.astype(np.float32), delta


def signal_axes(done: Transformed) -> tuple[str, ...]:
    """The names of the axes before the coefficients': ``'sample'`` unless ``x`` was one sample,
    ``'channel'`` where the signals have channels."""
    return ("sample",) * (not done.unbatched) + ("channel",) * (done.signal.ndim == 3)
