"""The method families; importing this package registers all of them."""

from signxai.methods._zennit_import import prepare

prepare()  # before anything imports zennit: keep torchvision out (see _zennit_import)

from signxai.methods import backprop, cam, deeplift, gradient, kernel_shap, lrp, occlusion, post  # noqa: E402, F401  (registration)
from signxai.methods.registry import MethodSpec, describe_method, list_methods, parse  # noqa: E402

__all__ = ["MethodSpec", "describe_method", "list_methods", "parse"]
