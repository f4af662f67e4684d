"""ECG tooling: shipped real data and trained models, WFDB I/O, filters, plots, per-wave relevance.

Depends on the core (``signxai.explain``), never the reverse. Install with ``signxai[ecg]``.
"""

from signxai.ecg.datasets import BeatSet, Recording, load_ecg5000, load_mitbih_208
from signxai.ecg.models import ECG5000_CLASSES, ECGModel, load_beat_model, model_card, samples_seen

__all__ = [
    "ECG5000_CLASSES",
    "BeatSet",
    "ECGModel",
    "Recording",
    "load_beat_model",
    "load_ecg5000",
    "load_mitbih_208",
    "model_card",
    "samples_seen",
]
