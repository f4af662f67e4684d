"""The standard 12-lead ECG and the relations between its limb leads.

The six limb leads measure three electrodes (right arm, left arm, left leg), so any two of them
give the other four: Einthoven's III = II - I and Goldberger's aVR = -(I + II) / 2,
aVL = I - II / 2, aVF = II - I / 2. Many carts (GE's among them) store I, II and V1-V6 only and
derive the other four for display; a model trained on twelve leads needs them derived the same
way.
"""

from __future__ import annotations

import numpy as np

from signxai.ecg.datasets import Recording, as_recording
from signxai.errors import InputError

#: The standard 12 leads in their usual order.
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Each derived limb lead as (weight of I, weight of II).
LIMB_LEADS = {"III": (-1.0, 1.0), "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}


def derive_limb_leads(recording: Recording) -> Recording:
    """The recording with the limb leads it lacks (III, aVR, aVL, aVF) derived from I and II.

    Parameters
    ----------
    recording
        A recording with leads named ``'I'`` and ``'II'`` (e.g. a GE MUSE file's eight leads); it
        is not changed.

    Returns
    -------
    Recording
        A new recording: the standard leads in the standard order (I, II, III, aVR, aVL, aVF,
        V1-V6, those it has), then its other leads in their order. Leads it has are kept as
        recorded, not recomputed.
    """
    recording = as_recording(recording)
    missing = [lead for lead in ("I", "II") if lead not in recording.leads]
    if missing:
        raise InputError(
            f"recording must have leads 'I' and 'II' to derive the other limb leads from; it lacks "
            f"{missing} (its leads: {recording.leads or 'unnamed'})"
        )
    rows = {lead: recording.signal[row] for row, lead in enumerate(recording.leads)}
    for lead, (weight_i, weight_ii) in LIMB_LEADS.items():
        if lead not in rows:
            rows[lead] = weight_i * rows["I"] + weight_ii * rows["II"]
    order = [lead for lead in STANDARD_LEADS if lead in rows]
    order += [lead for lead in recording.leads if lead not in STANDARD_LEADS]
    return Recording(
        signal=np.stack([rows[lead] for lead in order]), fs=recording.fs, leads=order, name=recording.name
    )
