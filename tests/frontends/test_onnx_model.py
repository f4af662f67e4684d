"""ONNX models: converted with onnx2torch, proved against onnxruntime, explained as the torch
model they were exported from (three exporter settings, three architectures)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx", reason="the onnx extra (onnx, onnxruntime, onnx2torch) is not installed")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx2torch")

from models import assert_unchanged, build, rel_error, snapshot  # noqa: E402
from signxai import (  # noqa: E402
    InputError,
    LayerError,
    UnsupportedModelError,
    explain,
    explain_spectrum,
    from_onnx,
)
from signxai.ecg.models import load_beat_model  # noqa: E402
from signxai.frontends import onnx_model  # noqa: E402

#: Methods and how close their maps must be to the torch model's (float32 rounding of the
#: exporter's BatchNorm folding; integrated gradients and SmoothGrad sum many passes whose ReLU
#: kinks that rounding can move).
METHODS = {
    "gradient": 1e-5,
    "gradient_x_input": 1e-5,
    "integrated_gradients": 1e-3,
    "smoothgrad_noise_0_1_samples_8": 1e-2,
    "guided_backprop": 1e-5,
    "deconvnet": 1e-5,
    "deeplift": 1e-5,
    "occlusion_window_20_stride_10": 1e-5,
    "lrp_z": 1e-5,
    "lrp_epsilon_0_5": 1e-5,
    "lrpsign_epsilon_0_25_std_x": 1e-5,
    "lrp_alpha_1_beta_0": 1e-5,
    "lrp_alpha_2_beta_1": 1e-5,
    "w2lrp_epsilon_0_25_std_x": 1e-5,
    "lrp_sequential_composite_a": 1e-5,
}


def export(model: nn.Module, x: torch.Tensor, path: Path, how: str) -> Path:
    """``model`` written to ``path`` by torch.onnx.export: 'dynamo' (the default exporter, opset
    20, a dynamic batch), 'dynamo-fixed' (the batch of ``x`` fixed in the graph) or 'legacy'
    (the TorchScript exporter, opset 17, a dynamic batch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "legacy":
            torch.onnx.export(
                model,
                (x,),
                str(path),
                input_names=["x"],
                dynamic_axes={"x": {0: "batch"}},
                dynamo=False,
                opset_version=17,
            )
        elif how == "dynamo":
            torch.onnx.export(
                model, (x,), str(path), input_names=["x"], dynamic_shapes=({0: torch.export.Dim("batch")},)
            )
        else:
            torch.onnx.export(model, (x,), str(path), input_names=["x"])
    return path


class Residual(nn.Module):
    """A 1D net with residual sums, average pooling and a LeakyReLU; logits out."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(2, 8, 7, padding=3)
        self.a = nn.Conv1d(8, 8, 5, padding=2)
        self.b = nn.Conv1d(8, 8, 5, padding=2)
        self.pool = nn.AvgPool1d(2)
        self.head = nn.Linear(8 * 40, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.b(nn.functional.leaky_relu(self.a(h), 0.1)))
        return self.head(self.pool(h).flatten(1))


def _image() -> tuple[nn.Module, torch.Tensor]:
    """The test suite's 2D CNN (BatchNorm, max and average pooling) with a sigmoid output."""
    model, x = build("cnn2d", seed=2)
    return nn.Sequential(model, nn.Sigmoid()).eval(), x


CASES = {
    "ecg5000": lambda: (
        load_beat_model("5class"),
        torch.randn(4, 1, 140, generator=torch.Generator().manual_seed(0)),
    ),
    "residual": lambda: (torch.manual_seed(1) and Residual().eval(), torch.randn(3, 2, 80)),
    "image": _image,
}


@pytest.mark.parametrize("how", ["dynamo", "legacy"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_method_explains_the_graph_as_the_torch_model(case: str, how: str, tmp_path: Path) -> None:
    model, x = CASES[case]()
    path = export(model, x, tmp_path / "model.onnx", how)
    proto = onnx.load(str(path))
    data = proto.SerializeToString()
    targets = [1, 2, 0, 1][: len(x)]
    for method, tolerance in METHODS.items():
        if case == "image" and method.startswith("occlusion"):
            method = "occlusion_window_4_stride_4"
        params = {"seed": 0} if method.startswith("smoothgrad") else {}
        ours = explain(path, x, method, target_class=targets, **params)
        assert rel_error(ours, explain(proto, x, method, target_class=targets, **params)) == 0
        expected = explain(model, x, method, target_class=targets, **params)
        assert ours.shape == tuple(x.shape)
        assert rel_error(ours, expected) < tolerance, method
    assert proto.SerializeToString() == data  # the caller's graph is left as it was


def test_grad_cam_sees_the_exporters_folded_batch_norm(tmp_path: Path) -> None:
    """The exporter folds each BatchNorm into the conv before it, so the graph's last conv
    outputs what the torch model's last BatchNorm outputs; its default Grad-CAM layer is that."""
    model, x = CASES["ecg5000"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    ours = explain(path, x, "grad_cam")
    assert rel_error(ours, explain(model, x, "grad_cam", target_layer="features.13")) < 1e-5
    assert rel_error(ours, explain(model, x, "grad_cam")) > 1e-2  # not the conv before its BatchNorm


def test_the_output_activation_is_bypassed_or_kept_as_asked(tmp_path: Path) -> None:
    model, x = _image()
    module = from_onnx(export(model, x, tmp_path / "model.onnx", "dynamo"), x)
    assert isinstance(module.activation, nn.Sigmoid)  # lifted out of the graph
    for output in ("logit", "activation"):
        ours = explain(module, x, "gradient", target_class=2, explain_output=output)
        expected = explain(model, x, "gradient", target_class=2, explain_output=output)
        assert rel_error(ours, expected) < 1e-5


def test_a_graph_with_a_fixed_batch_runs_in_chunks_of_it(tmp_path: Path) -> None:
    """The dynamo exporter without dynamic shapes bakes the batch (2) into a Reshape: the module
    runs 2 rows at a time (padding the last chunk) and gives the torch model's maps on 5 rows;
    DeepLIFT (which pairs rows inside every layer) and Grad-CAM on more rows are refused."""
    model = load_beat_model("5class")
    x = torch.randn(5, 1, 140, generator=torch.Generator().manual_seed(3))
    path = export(model, x[:2], tmp_path / "fixed.onnx", "dynamo-fixed")
    module = from_onnx(path, x)
    assert module.batch == 2
    with pytest.raises(RuntimeError):  # the graph itself cannot take 5 rows
        module.net(x)
    for method in (
        "gradient",
        "integrated_gradients",
        "lrpsign_epsilon_0_5",
        "lrp_alpha_1_beta_0",
        "occlusion",
    ):
        assert rel_error(explain(path, x, method), explain(model, x, method)) < 1e-3, method
    with pytest.raises(
        UnsupportedModelError,
        match="deeplift: the model applies a nonlinearity to 2 rows, not a multiple of the 10",
    ):
        explain(path, x, "deeplift")
    with pytest.raises(LayerError, match="ran 3 times"):
        explain(path, x, "grad_cam")
    two = explain(path, x[:2], "grad_cam")
    assert rel_error(two, explain(model, x[:2], "grad_cam", target_layer="features.13")) < 1e-5


def test_a_fixed_batch_read_from_the_input_is_not_chunked(tmp_path: Path) -> None:
    """The TorchScript exporter without dynamic axes declares the batch fixed but reads it from
    the input where the nets of torch's own models need it (Flatten): probed, then run whole."""
    model, x = _image()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x[:1],), str(tmp_path / "m.onnx"), input_names=["x"], dynamo=False, opset_version=17
        )
    module = from_onnx(tmp_path / "m.onnx", x)
    assert (module.batch, module.declared_batch) == (None, 1)
    assert rel_error(explain(module, x, "deeplift"), explain(model, x, "deeplift")) < 1e-5


def test_spectra_of_an_onnx_model(tmp_path: Path) -> None:
    model, x = CASES["ecg5000"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    ours = explain_spectrum(path, x, "lrpsign_epsilon_0_5")
    expected = explain_spectrum(model, x, "lrpsign_epsilon_0_5")
    assert rel_error(ours.relevance, expected.relevance) < 1e-5


def test_one_sample_and_numpy(tmp_path: Path) -> None:
    model, x = CASES["ecg5000"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    one = explain(path, x[1].numpy(), "lrp_epsilon_0_5", target_class=3)
    assert one.shape == (1, 140)
    assert rel_error(one, explain(model, x[1], "lrp_epsilon_0_5", target_class=3)) < 1e-5


def _graph(nodes: list, outputs: list, inputs: tuple[int, ...] = (2, 3)) -> object:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", inputs[1]])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", inputs[1]]) for name in outputs],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_several_outputs_need_a_choice(tmp_path: Path) -> None:
    from onnx import helper

    proto = _graph(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"])], ["a", "b"]
    )
    x = np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=np.float32)
    with pytest.raises(UnsupportedModelError, match=r"2 outputs \['a', 'b'\]; choose .*output=name"):
        explain(proto, x, "gradient", target_class=0)
    module = from_onnx(proto, x, output="b")
    np.testing.assert_array_equal(explain(module, x, "gradient", target_class=1)[:, 1], [-1.0, -1.0])
    assert from_onnx(proto, x, output=-1) is module  # cached by the graph's bytes and output
    with pytest.raises(InputError, match=r"output='c' is not an output .* \['a', 'b'\]"):
        from_onnx(proto, output="c")
    with pytest.raises(InputError, match="output=2 is out of range"):
        from_onnx(proto, output=2)


def test_an_operator_without_a_converter_is_named(tmp_path: Path) -> None:
    from onnx import helper

    proto = _graph([helper.make_node("Hardmax", ["x"], ["y"])], ["y"])
    with pytest.raises(UnsupportedModelError, match="onnx2torch cannot convert .*Hardmax"):
        explain(proto, np.ones((2, 3), np.float32), "gradient", target_class=0)
    newer = _graph([helper.make_node("Gelu", ["x"], ["y"])], ["y"])  # Gelu is new in opset 20
    newer.opset_import[0].version = 20
    with pytest.raises(
        UnsupportedModelError, match=r"\(No Previous Version of Gelu exists: .*opset_version=17\)"
    ):
        explain(newer, np.ones((2, 3), np.float32), "gradient", target_class=0)


def test_a_conversion_that_differs_from_onnxruntime_is_refused(tmp_path: Path, monkeypatch) -> None:
    model, x = CASES["residual"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    truth = onnx_model._onnxruntime_output
    monkeypatch.setattr(onnx_model, "_onnxruntime_output", lambda *a: truth(*a) * 1.01)
    module = from_onnx(path)
    before = snapshot(module)
    with pytest.raises(
        UnsupportedModelError, match=r"does not compute onnxruntime's output on x .*relative error 9\.9\de-03"
    ):
        explain(path, x, "gradient")
    assert_unchanged(module, before)


def test_bad_input_is_named(tmp_path: Path, monkeypatch) -> None:
    model, x = CASES["ecg5000"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    with pytest.raises(InputError, match=r"the ONNX model's input 'x' is \(batch, 1, 140\) \(rank 3\)"):
        explain(path, x[None], "gradient")
    with pytest.raises(InputError, match="ONNX model file '.*missing.onnx' not found"):
        explain(tmp_path / "missing.onnx", x, "gradient")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(InputError, match="could not be read as an ONNX model"):
        explain(str(tmp_path / "junk.onnx"), x, "gradient")
    # before: Python's AttributeError ('... has no attribute SerializeToString') and TypeError
    with pytest.raises(InputError, match="model must be an onnx.ModelProto or the path of .* got int"):
        from_onnx(3)
    with pytest.raises(InputError, match="forward_args must be a tuple or list .* got int"):
        from_onnx(path, x, forward_args=1)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "onnx", None)  # the extra not installed
    with pytest.raises(UnsupportedModelError, match=r"pip install 'signxai\[onnx\]'"):
        explain(path, x, "gradient")


def test_a_changed_cached_module_is_converted_anew(tmp_path: Path) -> None:
    """The module from_onnx returns is cached; where its weights were changed since, the next
    proof fails and the graph is converted again, and explained as before."""
    model, x = CASES["residual"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    module = from_onnx(path, x)
    assert from_onnx(path, x) is module
    with torch.no_grad():
        next(module.parameters()).add_(1.0)
    assert from_onnx(path, x) is not module
    assert rel_error(explain(path, x, "lrp_epsilon_0_5"), explain(model, x, "lrp_epsilon_0_5")) < 1e-5


class _WithAge(nn.Module):
    """A beat classifier with a second graph input (age and sex) joined before its head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.head = nn.Linear(4 + 2, 3)

    def forward(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([torch.relu(self.conv(x)).mean(dim=-1), meta], dim=1))


def test_further_graph_inputs_are_forward_args(tmp_path: Path) -> None:
    from signxai import Contrast

    torch.manual_seed(0)
    model, x, meta = _WithAge().eval(), torch.randn(4, 1, 60), torch.randn(4, 2)
    path = tmp_path / "two.onnx"
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x, meta), str(path), input_names=["x", "meta"], dynamic_shapes=({0: batch}, {0: batch})
        )
    for method in ("gradient", "integrated_gradients", "lrp_epsilon_0_5", "occlusion_window_10"):
        ours = explain(path, x, method, forward_args=(meta,), target_class=Contrast())
        expected = explain(model, x, method, forward_args=(meta,), target_class=Contrast())
        assert rel_error(ours, expected) < 1e-6, method
    with pytest.raises(InputError, match=r"takes 2 input\(s\) \['x', 'meta'\]; x and forward_args give 1"):
        explain(path, x, "gradient")


def test_converting_and_proving_an_onnx_model_holds_the_explanation_lock(tmp_path: Path, monkeypatch) -> None:
    """The converted module is cached and shared: proving it on x runs it, which must not happen
    while another thread's explanation has hooks on it. Before, only the ModelView held the lock,
    and the conversion and proof ran outside it."""
    import threading

    import signxai.api
    import signxai.spectral
    from signxai.model import EXPLAINING

    model, x = CASES["ecg5000"]()
    path = export(model, x, tmp_path / "model.onnx", "dynamo")
    free: list[bool] = []

    def others_may_enter() -> bool:
        result: list[bool] = []

        def try_to_enter() -> None:
            result.append(EXPLAINING.acquire(blocking=False))
            if result[0]:
                EXPLAINING.release()

        probe = threading.Thread(target=try_to_enter)
        probe.start()
        probe.join()
        return result[0]

    for module in (signxai.api, signxai.spectral):
        original = module.onnx_input

        def watched(*args, _original=original, **kwargs):
            free.append(others_may_enter())
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "onnx_input", watched)
    explain(path, x, "lrp_epsilon_0_1")
    explain_spectrum(path, x, "lrpsign_epsilon_0_5")
    assert free == [False, False]
    assert others_may_enter()  # released after


def test_an_output_window_of_an_onnx_per_step_model(tmp_path: Path) -> None:
    """A per-step ONNX model (Conv-ReLU-Conv-Softmax, (B, 3, T)): explained as it is, it is told
    of OutputWindow; OutputWindow(from_onnx(path, x)) gives the torch model's window maps, the
    Softmax bypassed."""
    from signxai import OutputWindow

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 9, padding=4), nn.ReLU(), nn.Conv1d(4, 3, 1), nn.Softmax(1)).eval()
    x = torch.randn(2, 1, 200)
    path = export(model, x, tmp_path / "steps.onnx", "legacy")
    with pytest.raises(UnsupportedModelError, match=r"signxai.OutputWindow\(model, start, stop\)"):
        explain(str(path), x, "gradient", target_class=1)
    window = OutputWindow(from_onnx(path, x), 50, 90)
    for method in ("gradient", "lrp_epsilon_0_1", "lrpsign_epsilon_0_5"):
        expected = explain(OutputWindow(model, 50, 90), x, method, target_class=1)
        np.testing.assert_allclose(explain(window, x, method, target_class=1), expected, rtol=1e-4, atol=1e-6)
