"""Does a map just follow the signal's amplitude? The bias SIGN was made to correct.

Input-multiplied explanations (gradient x input, Integrated Gradients and DeepLIFT from a zero
baseline, LRP) carry a factor of the input, so their magnitude tends to follow ``|x|``: large
deflections (a QRS complex) look relevant and samples near zero cannot (Gumpfer et al., "SIGNed
explanations", Information Fusion 2023). :func:`amplitude_bias` measures that per map as the
Spearman rank correlation of ``|R|`` with ``|x|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from signxai.errors import InputError
from signxai.evaluate.localisation import as_maps


def amplitude_bias(relevance: Any, x: Any) -> np.ndarray:
    """The Spearman rank correlation of each map's magnitude ``|R|`` with the signal's ``|x|``.

    Near 1: the map ranks samples by amplitude (what an input factor imposes); near 0: it does
    not follow amplitude; below 0: it favours small amplitudes. Ties get their mean rank.

    Parameters
    ----------
    relevance
        Maps ``(B, ...)``, numpy or torch (e.g. from ``explain``).
    x
        The explained signals, the same shape. Pass both cut to the samples the model sees (see
        ``signxai.ecg.samples_seen``) where part of the input never reaches the output: there
        every gradient-based map is 0 whatever the amplitude.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` correlations in [-1, 1]; NaN where ``|R|`` or ``|x|`` is constant over a sample
        (an all-zero map), which no correlation describes.

    Raises
    ------
    InputError
        Maps without a sample axis or with fewer than two values per sample, shapes that differ,
        non-finite values.
    """
    maps, signals = as_maps(relevance, "relevance", at_least=2), as_maps(x, "x", at_least=2)
    if maps.shape != signals.shape:
        raise InputError(f"x must have the maps' shape {maps.shape}, got {signals.shape}")
    maps, signals = maps.reshape(len(maps), -1), signals.reshape(len(signals), -1)
    ranked = [rankdata(np.abs(values), axis=1) for values in (maps, signals)]
    centred = [r - r.mean(axis=1, keepdims=True) for r in ranked]
    norms = np.sqrt((centred[0] ** 2).sum(axis=1) * (centred[1] ** 2).sum(axis=1))
    defined = norms > 0
    return np.where(defined, (centred[0] * centred[1]).sum(axis=1) / np.where(defined, norms, 1.0), np.nan)
