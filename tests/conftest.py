import sys
from pathlib import Path

# torch's CUDA wheels (through triton) and TensorFlow crash when TensorFlow is imported first and
# torchvision after it; the captum/zennit cross-checks import torchvision, the Keras tests
# TensorFlow, so torchvision is loaded here, before any test module.
import torchvision  # noqa: F401

import signxai  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))
