"""Grad-CAM for 1D and 2D feature maps, resized to the input and broadcast over its channels (or,
of a model that runs Conv2d over a signal's leads x length, resized onto its leads x length), and
guided Grad-CAM (Grad-CAM times guided backprop)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from signxai.errors import LayerError
from signxai.layout import channels_last_hint
from signxai.methods.backprop import GuidedReLU, modified_relu_gradient
from signxai.methods.operations import nodes_below
from signxai.methods.registry import Param, one_of, register_fixed
from signxai.model import ModelView, windowed_as_one_lead

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
INTERPOLATIONS = ("linear", "nearest")


def _capture(name: str, captured: list[tuple[str, torch.Tensor]]) -> Any:
    """A forward hook keeping the layer's output and passing a copy on: an in-place operation
    after the layer (``ReLU(inplace=True)``) then changes the copy, so the feature map is the
    layer's own output, as in the same model without in-place operations."""

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        captured.append((name, output))
        return output.clone() if isinstance(output, torch.Tensor) else None

    return hook


def _positions(output: object) -> int:
    """How many positions (time samples, pixels) a conv's output ``(B, C, ...)`` has."""
    return int(output.shape[2:].numel()) if isinstance(output, torch.Tensor) and output.ndim > 2 else 0


def _deepest(captured: list[tuple[str, torch.Tensor]], logits: torch.Tensor) -> str:
    """The conv at the end of the longest chain of convs in the autograd graph (the last of those
    in the run order on a tie) among those the explained output depends on: the last feature map
    of the data flow, not a projection shortcut that a residual block registers or runs after its
    main path, nor a conv of a head the model computes and does not return, nor a conv head of
    one position after the global pooling (where a conv with more positions ran). Two passes
    over the graph (what the output depends on; the chains)."""
    reached = set(nodes_below(logits.grad_fn))
    captured = [(name, output) for name, output in captured if getattr(output, "grad_fn", None) in reached]
    # a conv head after the global pooling (a 1x1 conv on (B, C, 1)) has one position: its map
    # would be one value spread over the whole input; the convs before it are the feature maps
    spread = [(name, output) for name, output in captured if _positions(output) > 1]
    captured = spread or captured
    convs = {output.grad_fn for _, output in captured if isinstance(output, torch.Tensor)}
    depth: dict[Any, int] = {}  # longest chain of conv outputs ending at a node

    def chain(root: Any) -> int:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in depth:
                continue
            parents = [p for p, _ in node.next_functions if p is not None]
            if not expanded:
                stack.append((node, True))
                stack.extend((p, False) for p in parents if p not in depth)
                continue
            depth[node] = max((depth[p] for p in parents), default=0) + (node in convs)
        return depth[root]

    best, deepest = "", -1
    for name, output in captured:
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            length = chain(output.grad_fn)
            if length >= deepest:
                best, deepest = name, length
    if deepest < 0:
        raise LayerError(
            "no Conv layer's output depends on the input and reaches the explained output; pass target_layer="
        )
    return best


@windowed_as_one_lead
def grad_cam(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """ReLU(sum_k w_k A_k), w_k = mean over positions of dz/dA_k, A the target layer's output."""
    view.require_hooks("grad_cam", whole=False)  # one hook, on the target layer
    if params["target_layer"] is None:  # every conv, to find the deepest one that ran
        candidates = view.conv_layers()
    else:
        candidates = [view.find_layer(params["target_layer"])]
        name, part = candidates[0][0], view.in_scripted_part(candidates[0][0])
        if part is not None:
            where = "is" if part == name else "is inside"
            raise LayerError(
                f"target_layer '{name}' {where} the TorchScript submodule '{part}', which cannot "
                "carry hooks; pick a layer outside it"
            )
    captured: list[tuple[str, torch.Tensor]] = []
    handles = []
    try:
        for layer_name, module in candidates:
            handles.append(module.register_forward_hook(_capture(layer_name, captured)))
        x = x.detach().requires_grad_(True)
        logits = view.forward(x)
    finally:
        for handle in handles:
            handle.remove()
    name = candidates[0][0] if params["target_layer"] is not None else _deepest(captured, logits)
    layer = dict(candidates)[name]
    runs = [output for layer_name, output in captured if layer_name == name]
    if not runs:
        raise LayerError(f"target_layer '{name}' did not run in the model's forward pass")
    if len(runs) > 1:  # weight sharing: which call's feature map would be a guess
        raise LayerError(
            f"target_layer '{name}' ran {len(runs)} times in one forward pass (a shared layer, or "
            "a model that runs its batch in parts, as an ONNX graph with a fixed batch size does), "
            "so it has no one feature map; pick a layer that runs once (or pass as many rows as "
            "the model runs at a time)"
        )
    (activation,) = runs
    spatial = x.ndim - 2
    # a model that treats (leads, length) as an image (Conv2d over it): maps over (H, W) with H the
    # leads or 1 (the leads combined), resized onto the input's (leads, length)
    image = x.ndim == 3 and isinstance(activation, torch.Tensor) and activation.ndim == 4
    if image and activation.shape[2] not in (1, x.shape[1]):
        raise LayerError(
            f"target_layer '{name}' ({type(layer).__name__}) outputs 2-D feature maps "
            f"{tuple(activation.shape)} over an input of {x.shape[1]} lead(s) x {x.shape[2]} "
            f"samples; Grad-CAM maps (B, C, H, W) onto (leads, length) only where H is the number "
            f"of leads ({x.shape[1]}) or 1 (the leads combined), not {activation.shape[2]}; pick a "
            "layer whose height is one of those"
        )
    if not image and (not isinstance(activation, torch.Tensor) or activation.ndim != x.ndim):
        shape = tuple(activation.shape) if isinstance(activation, torch.Tensor) else type(activation)
        given = f"{(x.shape[0], *x.shape[2:])}, one lead" if view.lead_added else f"{tuple(x.shape)}"
        raise LayerError(
            f"target_layer '{name}' ({type(layer).__name__}) outputs {shape}, not a feature map "
            f"(B, C, {', '.join(['length'] if spatial == 1 else ['height', 'width'])}) like the "
            f"input {given}; pick a Conv/BatchNorm/ReLU/pooling layer of the feature part"
        )
    if not activation.requires_grad:
        raise LayerError(f"target_layer '{name}' output does not depend on the input")
    hint = channels_last_hint(tuple(x.shape), int(activation.shape[-1]))
    if hint:  # feature maps over x's axis 1, resized onto its (shorter) last axis: a wrong map
        raise LayerError(
            f"target_layer '{name}' outputs feature maps of length {activation.shape[-1]}, longer "
            f"than the input's last axis ({x.shape[-1]}) they would be resized to{hint}"
        )
    weights = view.target_weights(target, logits)
    (grad,) = torch.autograd.grad(logits, activation, grad_outputs=weights, allow_unused=True)
    if grad is None:
        raise LayerError(
            f"target_layer '{name}' does not reach the explained output (a layer of a head the "
            "model computes and does not return?); pick a layer on the way to it"
        )
    channel_weights = grad.mean(dim=tuple(range(2, grad.ndim)), keepdim=True)
    cam = torch.relu((channel_weights * activation.detach()).sum(dim=1, keepdim=True))
    if params["normalize"]:  # at the feature map's resolution, before resizing, as the original
        peak = cam.flatten(1).amax(dim=1).clamp(min=torch.finfo(cam.dtype).tiny)
        cam = cam / peak.view(-1, *([1] * (cam.ndim - 1)))
    size = tuple(x.shape[1:] if image else x.shape[2:])
    if cam.shape[2:] != size and params["interpolation"] == "nearest":
        cam = F.interpolate(cam, size=size, mode="nearest")
    elif cam.shape[2:] != size:
        cam = F.interpolate(cam, size=size, mode=_MODES[len(size)], align_corners=True)
    return cam[:, 0].clone() if image else cam.expand_as(x).clone()


_guided_backprop = modified_relu_gradient(GuidedReLU, "guided_grad_cam")


@windowed_as_one_lead
def guided_grad_cam(view: ModelView, x: torch.Tensor, target: Any, params: Mapping[str, Any]) -> torch.Tensor:
    """Grad-CAM resized to the input times guided backprop (Selvaraju et al. 2017; captum's
    GuidedGradCam): where on the input, at the input's resolution, the class evidence lies."""
    return grad_cam(view, x, target, params) * _guided_backprop(view, x, target, params)


CAM_PARAMS = (
    Param(
        "target_layer",
        object,
        None,
        "dotted module name or module whose output is used (default: the last Conv of the data "
        "flow to the explained output, at the end of the longest chain of Convs)",
    ),
    Param("normalize", bool, False, "divide each map by its maximum (before resizing)"),
    Param(
        "interpolation",
        str,
        "linear",
        "resizing to the input: 'linear' (bi-/trilinear, corners aligned) or 'nearest' (captum's)",
        check=one_of(INTERPOLATIONS),
    ),
)
for _family, _compute, _summary in (
    (
        "grad_cam",
        grad_cam,
        "ReLU(sum_k w_k A_k) with w_k = mean dz/dA_k over positions, resized to the input",
    ),
    (
        "guided_grad_cam",
        guided_grad_cam,
        "grad_cam times guided_backprop, elementwise (captum's GuidedGradCam)",
    ),
):
    register_fixed(_family, _compute, CAM_PARAMS, "cam", _summary)
