"""signxai: explanations of deep models on signals (ECG first), with the SIGN methods.

>>> from signxai import explain, list_methods, describe_method
"""

from signxai.api import explain
from signxai.errors import (
    InputError,
    LayerError,
    MethodParameterError,
    SignXAIError,
    TargetError,
    UnknownMethodError,
    UnsupportedModelError,
)
from signxai.frontends.onnx_model import from_onnx
from signxai.layout import ChannelsFirst
from signxai.methods import describe_method, list_methods
from signxai.output_window import OutputWindow
from signxai.spectral import SpectralRelevance, explain_spectrum
from signxai.spectrogram import SpectrogramRelevance, explain_spectrogram
from signxai.targets import Contrast

__version__ = "0.1.0"

__all__ = [
    "ChannelsFirst",
    "Contrast",
    "InputError",
    "LayerError",
    "MethodParameterError",
    "OutputWindow",
    "SignXAIError",
    "SpectralRelevance",
    "SpectrogramRelevance",
    "TargetError",
    "UnknownMethodError",
    "UnsupportedModelError",
    "__version__",
    "describe_method",
    "explain",
    "explain_spectrogram",
    "explain_spectrum",
    "from_onnx",
    "list_methods",
]
