"""Agreement with ``signxai2==0.15.10``, the SIGN authors' PyTorch package (zennit 1.0.0 composites
and the DFT-LRP code of Vielhaben et al.).

Its maps were computed once by ``scripts/signxai2_reference.py`` (the package needs zennit 1.0.0,
so it runs apart from this project's environment) on five torch models, one sample at a time;
the models are rebuilt here from the stored weights and explained as a batch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from signxai import explain, explain_spectrum

DATA = np.load(Path(__file__).resolve().parents[1] / "data" / "signxai2_reference.npz")
_spec = importlib.util.spec_from_file_location(
    "signxai2_reference", Path(__file__).resolve().parents[2] / "scripts" / "signxai2_reference.py"
)
assert _spec is not None and _spec.loader is not None
_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_script)
TARGETS = DATA["targets"].tolist()


def _model(name: str) -> torch.nn.Module:
    prefix = f"{name}/state/"
    state = {key[len(prefix) :]: DATA[key] for key in DATA.files if key.startswith(prefix)}
    return _script.load(name, state)


def _rel(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


@pytest.mark.parametrize("name", _script.MODELS)
@pytest.mark.parametrize("method", list(_script.METHODS))
def test_std_x_and_sign_composites_equal_signxai2(name: str, method: str) -> None:
    """``EpsilonStdX(stdfactor=e)`` is ``lrp_epsilon_<e>_std_x``; ``EpsilonStdXSIGN(stdfactor=e,
    signstdfactor=s, mu=m)`` is ``lrpsign_epsilon_<e>_std_x_mu_<m>`` with ``sign_epsilon=s`` (the
    package stabilises the SIGN layer's denominator; the TensorFlow original and signxai's
    default do not). The whole batch at once equals the package's maps of each sample alone."""
    keywords = _script.METHODS[method][0]
    ours = explain(_model(name), DATA[f"{name}/x"], method, TARGETS, **keywords)
    assert _rel(ours, DATA[f"{name}/{method}"]) < 1e-5


@pytest.mark.parametrize("name", ["cnn", "bn"])
def test_sign_default_differs_from_signxai2_only_by_the_sign_layers_stabiliser(name: str) -> None:
    """Without ``sign_epsilon`` the SIGN layer divides by z (METHODS.md, the original package):
    not the package's map, but sign_mu(x) * c from the z-rule there."""
    model, x = _model(name), DATA[f"{name}/x"]
    default = explain(model, x, "lrpsign_epsilon_0_25_std_x", TARGETS)
    assert _rel(default, DATA[f"{name}/lrpsign_epsilon_0_25_std_x"]) > 0.1
    stabilised = explain(model, x, "lrpsign_epsilon_0_25_std_x", TARGETS, sign_epsilon=0.0)
    np.testing.assert_allclose(stabilised, default, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", _script.DFT_MODELS)
def test_explain_spectrum_equals_the_dft_lrp_code_of_vielhaben_et_al(name: str) -> None:
    """``explain_spectrum`` with the z-rule at the virtual layer (``lrpz_``) and the epsilon-std_x
    rule in the model is DFT-LRP (signxai2.dftutils, all T bins, the mirrored bins added to
    their own) of the package's time-domain epsilon-std_x map; its stabiliser (+1e-6 on the
    signal) is the only difference (float32)."""
    result = explain_spectrum(_model(name), DATA[f"{name}/x"], "lrpz_epsilon_0_25_std_x", TARGETS)
    assert result.relevance.shape == DATA[f"{name}/dft_lrp"].shape
    assert _rel(result.relevance, DATA[f"{name}/dft_lrp"]) < 1e-4


def test_fold_adds_each_mirrored_bin_to_its_own() -> None:
    """The script's folding of a full DFT's bins (the test above relies on it): even and odd T."""
    np.testing.assert_array_equal(_script.fold(np.arange(6.0)), [0.0, 1 + 5, 2 + 4, 3])
    np.testing.assert_array_equal(_script.fold(np.arange(5.0)), [0.0, 1 + 4, 2 + 3])
