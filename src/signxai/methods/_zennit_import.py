"""Import zennit without importing torchvision (until someone uses ``zennit.torchvision``).

zennit's package ``__init__`` imports its ``zennit.torchvision`` module (ResNet/VGG canonizers,
which signxai does not use), and that imports torchvision: about a second of import time, and
with the CUDA builds of torch (which pull in triton) a segmentation fault when TensorFlow was
imported first — the situation of every Keras user. So, before zennit is imported for the first
time, ``zennit.torchvision`` is registered as a lazy module that loads the real one on first
attribute access; nothing else changes.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

NAME = "zennit.torchvision"


class _LazyModule(types.ModuleType):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.__dict__["_path"] = path
        self.__dict__["__file__"] = path

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            # module metadata that tools look up on every module in sys.modules (inspect.getmodule,
            # as torch.testing does while it imports torch.distributed): loading torchvision there,
            # in the middle of another import, failed with a circular import
            raise AttributeError(attribute)
        spec = importlib.util.spec_from_file_location(NAME, self.__dict__["_path"])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        spec.loader.exec_module(module)
        parent = sys.modules.get("zennit")
        if parent is not None:
            parent.torchvision = module  # type: ignore[attr-defined]
        return getattr(module, attribute)


def prepare() -> None:
    """Register the lazy ``zennit.torchvision`` if zennit has not been imported yet."""
    if "zennit" in sys.modules or NAME in sys.modules:
        return
    spec = importlib.util.find_spec("zennit")
    if spec is None or not spec.submodule_search_locations:
        return
    for folder in spec.submodule_search_locations:
        path = f"{folder}/torchvision.py"
        if importlib.util.spec_from_file_location(NAME, path) is not None:
            sys.modules[NAME] = _LazyModule(NAME, path)
            return
