"""Relevance per frequency and time: the model explained as a function of its input's short-time
Fourier transform (Vielhaben et al. 2024's virtual inspection layers, STDFT-LRP).

``explain_spectrogram`` writes each signal as its STFT (``torch.stft`` with a periodic Hann
window of ``n_fft`` samples, hop ``hop``, ``center=True`` with zero padding, one-sided: F =
n_fft // 2 + 1 bins by M = 1 + (T + 2 (n_fft // 2) - n_fft) // hop frames), the real parts
of the bins followed by their imaginary parts per frame. The inverse STFT (each frame's inverse
DFT times the window, overlap-added, divided by the windows' squared sum: ``torch.istft``) is
put in front of the model as a virtual inspection layer: a ``ConvTranspose1d`` from the 2F
coefficients of each frame to the signal, stride ``hop``, then the division by that constant
envelope. Any method with relevance per input element then explains the model at the
coefficients, as in :mod:`signxai.spectral` (the input-layer prefix chooses the rule at the
virtual layer: ``lrpz_`` conserves each sample's time-domain relevance, ``lrpsign_`` is SIGN on
the coefficients). Occlusion hides tiles of adjacent bins and frames (both parts of each
coefficient) and gives each cell the mean drop over the tiles covering it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from signxai.checks import check_whole
from signxai.errors import MethodParameterError
from signxai.spectral import (
    check_fs,
    exact,
    explain_transformed,
    harmonic_weights,
    per_bin_arrays,
    real_inverse_basis,
    signal_axes,
    sum_bands,
)


@dataclass(frozen=True)
class SpectrogramRelevance:
    """Relevance per frequency bin and frame of each sample's and channel's STFT.

    Attributes
    ----------
    relevance
        ``(B, C, F, M)`` (without ``B`` / ``C`` where ``x`` had no such axis): each bin's
        relevance in each frame, real and imaginary parts summed.
    parts
        The same with the real and imaginary parts apart: an axis of two before the bins; None
        for occlusion, which hides a cell's two parts together.
    frequencies
        ``(F,)``: the bins' frequencies in Hz (with ``fs``) or in cycles per sample.
    times
        ``(M,)``: the frames' centres in s (with ``fs``) or in samples.
    amplitude
        Each bin's amplitude per frame, in x's units for a sinusoid at the bin's frequency
        (|STFT| times 2 / the window's sum; 1 / the sum at 0 Hz and at the Nyquist bin).
    fs, method, axes, length, delta
        As in :class:`signxai.spectral.SpectralRelevance`; ``axes`` ends with
        ``('bin', 'frame')``.
    n_fft, hop
        The window's length and the hop, in samples.
    """

    relevance: np.ndarray
    parts: np.ndarray | None
    frequencies: np.ndarray
    times: np.ndarray
    amplitude: np.ndarray
    fs: float | None
    method: str
    axes: tuple[str, ...]
    length: int
    n_fft: int
    hop: int
    delta: np.ndarray | None = None

    def bands(self, edges: Mapping[str, tuple[float, float]]) -> dict[str, np.ndarray]:
        """Sum the relevance over frequency bands, frame by frame.

        Parameters
        ----------
        edges
            Band name -> ``(low, high)`` in the unit of ``frequencies``, as
            :meth:`signxai.spectral.SpectralRelevance.bands`.

        Returns
        -------
        dict
            Band name -> ``relevance`` summed over the band's bins: its shape without the bin
            axis (``(..., M)``).
        """
        return sum_bands(np.moveaxis(self.relevance, -2, -1), self.frequencies, self.fs, edges)


@dataclass(frozen=True)
class ShortTimeDFT:
    """The STFT with a periodic Hann window (``center=True``, zero padding, one-sided) and its
    exact inverse as a virtual layer (:class:`InverseSTFT`)."""

    length: int
    device: torch.device
    dtype: torch.dtype
    n_fft: int
    hop: int

    @property
    def key(self) -> tuple[Any, ...]:
        """``('stft', T, n_fft, hop)``."""
        return ("stft", self.length, self.n_fft, self.hop)

    @property
    def framed(self) -> bool:
        """True: ``(..., 2F, M)``."""
        return True

    def window(self) -> torch.Tensor:
        """The periodic Hann window, float64 on the CPU."""
        return torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64)

    def analyse(self, signal: torch.Tensor) -> torch.Tensor:
        """``(..., T)`` -> ``(..., 2F, M)``: real parts of the bins, then imaginary parts."""
        rows = exact(signal.reshape(-1, signal.shape[-1]))
        transform = torch.stft(
            rows,
            self.n_fft,
            self.hop,
            window=self.window().to(rows.device),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        real = torch.cat([transform.real, transform.imag], dim=1)
        return real.reshape(*signal.shape[:-1], *real.shape[1:]).to(signal.dtype).to(signal.device)

    def synthesis(self) -> nn.Module:
        """:class:`InverseSTFT` for this length, window and hop."""
        return InverseSTFT(self.length, self.n_fft, self.hop, self.window()).to(self.dtype).to(self.device)


class InverseSTFT(nn.Module):
    """The virtual inspection layer of the STFT: ``(..., 2F, M)`` -> ``(..., T)``.

    Frame m's inverse DFT times the window w, overlap-added at m * hop (a ``ConvTranspose1d``,
    2F -> 1 channel, kernel n_fft, stride hop, cropping the n_fft // 2 samples of padding each
    side), divided by the overlap-added squared window (a constant envelope): ``torch.istft``.
    """

    def __init__(self, length: int, n_fft: int, hop: int, window: torch.Tensor) -> None:
        super().__init__()
        bins = n_fft // 2 + 1
        frames = 1 + (length + 2 * (n_fft // 2) - n_fft) // hop  # torch.stft's, center=True
        basis = real_inverse_basis(n_fft) / n_fft  # torch.stft's DFT is unnormalised
        # output_padding: what makes the transposed conv's output T samples long
        extra = length - (frames - 1) * hop + 2 * (n_fft // 2) - n_fft
        self.frames = nn.ConvTranspose1d(
            2 * bins, 1, n_fft, stride=hop, padding=n_fft // 2, output_padding=extra, bias=False
        )
        self.frames.weight = nn.Parameter(
            (window[:, None] * basis).T[:, None, :].contiguous(), requires_grad=False
        )
        envelope = nn.functional.conv_transpose1d(
            torch.ones(1, 1, frames, dtype=torch.float64),
            (window**2)[None, None],
            stride=hop,
            padding=n_fft // 2,
            output_padding=extra,
        )[0, 0]
        if float(envelope.min()) < 1e-6:  # a frame layout that leaves samples unseen
            raise MethodParameterError(
                f"n_fft={n_fft} with hop={hop} leaves samples of a {length}-sample signal without "
                "window weight, so the STFT is not invertible there; use hop <= n_fft // 2"
            )
        self.register_buffer("envelope", envelope)
        self.bins, self.count = bins, frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The signal whose STFT coefficients are ``x``."""
        lead = x.shape[:-2]
        frames = self.frames(x.reshape(-1, 2 * self.bins, self.count))
        return (frames / self.envelope).reshape(*lead, -1)


def explain_spectrogram(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    method_name: str,
    target_class: int | Any | None = None,
    *,
    n_fft: int = 64,
    hop: int | None = None,
    fs: float | None = None,
    explain_output: str = "logit",
    forward_args: Sequence[Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    **params: Any,
) -> SpectrogramRelevance:
    """Explain the model's decision for ``x`` per frequency and time (see the module's text).

    Parameters
    ----------
    model, x, method_name, target_class, fs, explain_output, forward_args, forward_kwargs, **params
        As for :func:`signxai.explain_spectrum` (torch or Keras models; per-element methods).
        Occlusion hides tiles of ``window`` adjacent bins by ``window`` adjacent frames (clipped
        to an axis shorter than the window), ``stride`` apart on both axes.
    n_fft
        The window's length in samples (2 to T): the frequency resolution is fs / n_fft.
    hop
        Samples between frames, 1 to n_fft // 2 (default n_fft // 4, at least 1).

    Returns
    -------
    SpectrogramRelevance
        Relevance per bin and frame, the frequencies and frame times, the STFT's amplitude.

    Raises
    ------
    SignXAIError
        As :func:`signxai.explain_spectrum`; ``MethodParameterError`` for ``n_fft`` / ``hop``
        out of range.
    """
    n_fft = check_whole(n_fft, "n_fft", at_least=2, error=MethodParameterError)
    hop = max(1, n_fft // 4) if hop is None else hop
    hop = check_whole(hop, "hop", at_least=1, error=MethodParameterError)
    if hop > max(1, n_fft // 2):
        raise MethodParameterError(
            f"hop must be at most n_fft // 2 = {n_fft // 2} (frames overlapping by half or more), got {hop}"
        )
    fs = check_fs(fs)

    def make(length: int, device: torch.device, dtype: torch.dtype) -> ShortTimeDFT:
        if n_fft > length:
            raise MethodParameterError(f"n_fft must be at most the signal's length {length}, got {n_fft}")
        return ShortTimeDFT(length, device, dtype, n_fft, hop)

    done = explain_transformed(
        model, x, method_name, target_class, make, explain_output, forward_args, forward_kwargs, **params
    )
    window_sum = float(torch.hann_window(n_fft, periodic=True, dtype=torch.float64).sum())
    per_cell, parts, amplitude, delta = per_bin_arrays(done, harmonic_weights(n_fft).numpy() / window_sum)
    unit = 1.0 / fs if fs is not None else 1.0
    return SpectrogramRelevance(
        relevance=per_cell,
        parts=parts,
        frequencies=np.fft.rfftfreq(n_fft, d=unit),
        times=np.arange(per_cell.shape[-1]) * hop * unit,
        amplitude=amplitude,
        fs=fs,
        method=done.spec.name,
        axes=(*signal_axes(done), "bin", "frame"),
        length=int(done.signal.shape[-1]),
        n_fft=n_fft,
        hop=hop,
        delta=delta,
    )
