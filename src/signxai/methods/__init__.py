"""The method families; importing this package registers all of them."""

from signxai.methods import backprop, cam, gradient, lrp, post  # noqa: F401  (registration)
from signxai.methods.registry import MethodSpec, describe_method, list_methods, parse

__all__ = ["MethodSpec", "describe_method", "list_methods", "parse"]
