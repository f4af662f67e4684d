"""Are the explanations faithful? Deletion curves (in time and in frequency), randomization
checks, method comparison, localisation against a known ground truth, amplitude bias.

``quantus_explain_func`` (in :mod:`signxai.evaluate.quantus_adapter`, extra ``signxai[eval]``)
lets any Quantus metric evaluate any signxai method.
"""

from signxai.evaluate.amplitude import amplitude_bias
from signxai.evaluate.compare import compare_methods
from signxai.evaluate.deletion import DeletionCurve, deletion_curve, infill_windows, random_relevance
from signxai.evaluate.frequency import spectral_deletion_curve
from signxai.evaluate.localisation import relevance_mass_accuracy, relevance_rank_accuracy
from signxai.evaluate.quantus_adapter import quantus_explain_func
from signxai.evaluate.randomization import model_randomization, similarity

__all__ = [
    "DeletionCurve",
    "amplitude_bias",
    "compare_methods",
    "deletion_curve",
    "infill_windows",
    "model_randomization",
    "quantus_explain_func",
    "random_relevance",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "similarity",
    "spectral_deletion_curve",
]
