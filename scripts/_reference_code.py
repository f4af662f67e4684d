"""Load reference implementations the cross-check scripts run, file by file."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Sequence
from pathlib import Path


def load_files(package: str, folder: Path, names: Sequence[str]) -> dict[str, types.ModuleType]:
    """Each ``folder/<name>.py`` executed as the module ``<package>.<name>``, in the order given
    (a later file may import an earlier one by that name).

    The package and its parents are stand-ins while the files load, so that no package
    ``__init__`` runs (LXT's imports its language models) and a package named like a
    standard-library module (Arras et al.'s ``code``) does not resolve to it; ``sys.modules`` is
    as it was afterwards, and the loaded modules keep working (their imports are done).
    """
    parts = package.split(".")
    names_loaded = [".".join(parts[: k + 1]) for k in range(len(parts))] + [f"{package}.{n}" for n in names]
    saved = {name: sys.modules.get(name) for name in names_loaded}
    for name in names_loaded[: len(parts)]:
        sys.modules[name] = types.ModuleType(name)
    try:
        loaded = {}
        for name in names:
            spec = importlib.util.spec_from_file_location(f"{package}.{name}", folder / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[f"{package}.{name}"] = module
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
