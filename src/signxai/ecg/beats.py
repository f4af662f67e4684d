"""Beats of a strip in the layout of the shipped ECG5000 models, and their classification.

The ECG5000 beats (BIDMC chf07) run from an R-peak to the next, resampled to 140 samples and
z-normalised, with the QRS as a negative deflection at the start. ``ecg5000_windows`` cuts a
strip the same way: from ``pre`` seconds before each R-peak to ``pre`` seconds before the next,
with the polarity flipped for leads whose QRS is upright (MLII). On the shipped MIT-BIH 208
strip this layout (``pre`` = 20 ms, flipped) made the binary model call 89 % of the beats whose
QRS differs from the dominant beat's (correlation < 0.8) abnormal and 5 % of the others; the
model was trained on another patient's lead, so its labels there are predictions, not
annotations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal as sps
from torch import nn

from signxai.checks import check_flag, check_module, check_number, check_whole
from signxai.ecg.checks import as_peaks, as_signal, check_fs
from signxai.ecg.preprocess import znormalize
from signxai.errors import InputError
from signxai.model import evaluated, input_placement

#: WFDB's beat annotation codes (PhysioNet's table: N normal, L/R/B bundle branch block, A/a/J/S
#: supraventricular premature, n supraventricular escape, V premature ventricular, r R-on-T
#: premature ventricular, E ventricular escape, F fusion, e/j escape, / paced, f fusion of paced
#: and normal, Q/? unclassifiable); the other codes mark rhythm changes, noise, signal quality
#: and comments, not beats.
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")

#: Each beat code's AAMI EC57 class: N (normal, bundle branch block, escape), S (supraventricular
#: ectopic), V (ventricular ectopic), F (fusion), Q (paced, unclassifiable).
AAMI_CLASSES = {
    **dict.fromkeys("NLRBej", "N"),
    **dict.fromkeys("AaJSn", "S"),
    **dict.fromkeys("VrE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ?", "Q"),
}


def as_beat_codes(codes: object, name: str) -> list[str]:
    """``codes`` as a list of WFDB beat codes (:data:`BEAT_SYMBOLS`), or an ``InputError`` naming
    ``name``: not a list, or codes that mark no beat (rhythm, noise, comments)."""
    if isinstance(codes, str) or not isinstance(codes, Sequence | np.ndarray):
        raise InputError(f"{name} must be a list of WFDB beat codes (N, V, A, ...), got {codes!r}")
    unknown = sorted({str(code) for code in codes if code not in BEAT_SYMBOLS})
    if unknown:
        raise InputError(
            f"{name} holds codes that mark no beat in WFDB: {unknown[:5]}; beat codes are "
            f"{''.join(sorted(BEAT_SYMBOLS))} (read_beat_annotations keeps only those)"
        )
    return list(codes)


def as_code_map(codes: object, name: str = "codes") -> dict[str, str]:
    """``codes`` (annotation text -> WFDB beat code) checked: texts are strings, codes beat codes."""
    if codes is None:
        return {}
    if not isinstance(codes, Mapping) or not all(isinstance(text, str) for text in codes):
        raise InputError(
            f"{name} must map annotation texts to WFDB beat codes, e.g. {{'QRS': 'N', 'PVC': 'V'}}, "
            f"got {codes!r}"
        )
    wrong = {text: code for text, code in codes.items() if code not in BEAT_SYMBOLS}
    if wrong:
        raise InputError(
            f"{name} maps {wrong} to codes that mark no beat in WFDB; beat codes are "
            f"{''.join(sorted(BEAT_SYMBOLS))}"
        )
    return {text.strip(): str(code) for text, code in codes.items()}


def annotation_codes(texts: list[str], codes: Mapping[str, str], source: str) -> list[str | None]:
    """Each annotation text's beat code (``codes`` first, then texts that are WFDB beat codes
    themselves); None for the others. Annotations none of which is a beat are an error that
    lists their texts, so a file that writes its beats otherwise ('QRS', 'PVC') can be mapped."""
    read = [codes.get(text, text if text in BEAT_SYMBOLS else None) for text in texts]
    if texts and all(code is None for code in read):
        counts = Counter(texts).most_common(8)
        shown = ", ".join(f"{text!r} {count}" for text, count in counts)
        raise InputError(
            f"none of the {len(texts)} annotations of {source} is a beat: their texts are {shown}"
            f"{' ...' if len(set(texts)) > 8 else ''}; beats are marked by WFDB beat codes "
            f"({''.join(sorted(BEAT_SYMBOLS))}); map other texts with codes= (e.g. {{'QRS': 'N'}}; "
            "on the command line --annotation-code QRS=N)"
        )
    return read


@dataclass
class BeatWindows:
    """Beats ``(n, 1, length)`` and the strip samples ``starts[i]:stops[i]`` each one covers."""

    beats: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    r_peaks: np.ndarray


def ecg5000_windows(
    ecg: np.ndarray,
    r_peaks: np.ndarray,
    fs: float,
    pre: float = 0.02,
    invert: bool = True,
    length: int = 140,
) -> BeatWindows:
    """Cut one lead into R-to-R beats in the ECG5000 layout (see the module docstring).

    Parameters
    ----------
    ecg
        One lead ``(samples,)``, baseline wander removed.
    r_peaks
        Its R-peaks' sample indices (e.g. from :func:`~signxai.ecg.preprocess.detect_r_peaks`).
    fs
        Sampling rate in Hz.
    pre
        Seconds before each R-peak at which a beat starts (and the previous one ends).
    invert
        Flip the polarity (the ECG5000 QRS is a negative deflection; MLII's is upright).
    length
        Samples per beat (>= 2; the shipped models take 140).

    Returns
    -------
    BeatWindows
        ``beats`` ``(n, 1, length)`` float32, z-normalised; each beat's ``starts``/``stops`` in
        the lead's samples and its ``r_peaks``. Beats of 8 samples or fewer and beats that would
        run past either end are left out.
    """
    ecg = as_signal(ecg, ndim=1)
    fs = check_fs(fs)
    r_peaks = as_peaks(r_peaks, len(ecg))
    offset = round(check_number(pre, "pre", unit="of seconds") * fs)
    length = check_whole(length, "length", at_least=2, unit="of samples")
    invert = check_flag(invert, "invert")
    starts = r_peaks[:-1] - offset
    stops = r_peaks[1:] - offset
    keep = (starts >= 0) & (stops <= len(ecg)) & (stops - starts > 8)
    if not keep.any():
        raise InputError("fewer than two R-peaks with a complete beat between them")
    starts, stops = starts[keep], stops[keep]
    beats = np.stack([sps.resample(ecg[a:b], length) for a, b in zip(starts, stops, strict=True)])
    beats = znormalize(beats) * (-1.0 if invert else 1.0)
    return BeatWindows(beats[:, None, :].astype(np.float32), starts, stops, r_peaks[:-1][keep])


def classify(model: nn.Module, beats: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities ``(n, classes)``; a single-output model gives ``[1 - p, p]``.

    Parameters
    ----------
    model
        A beat classifier ending in its probabilities (a softmax or sigmoid), e.g.
        :func:`~signxai.ecg.models.load_beat_model`'s.
    beats
        ``(n, channels, length)``, as :func:`ecg5000_windows` cuts them.
    batch_size
        Beats per forward pass.

    Returns
    -------
    numpy.ndarray
        ``(n, classes)`` float32: the model's outputs, with ``1 - p`` before a single output p.

    The model runs in eval mode on its own device (CPU or GPU); its modules' modes are restored.
    """
    check_module(model)
    beats = as_signal(beats, "beats", ndim=3)
    batch_size = check_whole(batch_size, "batch_size", at_least=1)
    device, dtype = input_placement(model)  # a float64 or bfloat16 model takes beats of its own dtype
    outputs = []
    with evaluated(model), torch.no_grad():
        for start in range(0, len(beats), batch_size):
            chunk = torch.as_tensor(np.asarray(beats[start : start + batch_size]))
            outputs.append(model(chunk.to(device=device, dtype=dtype)).float().cpu())
    probabilities = torch.cat(outputs).numpy()
    if probabilities.shape[1] == 1:
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    return probabilities
