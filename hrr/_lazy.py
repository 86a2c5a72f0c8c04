"""Lazy package namespaces (PEP 562): a package lists its public names and the modules that define them; each
module is imported on the first access to one of its names, so importing the package itself costs nothing."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_namespace(package: str, exports: Mapping[str, str], namespace: dict[str, Any]
                   ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose public ``name`` lives in module ``exports[name]``.

    ``exports`` values are module names relative to the package (``"._estimator"``) or absolute. A loaded name is
    cached in ``namespace`` (the package's ``globals()``), so later accesses are plain lookups.

    Examples
    --------
    In a package's ``__init__.py``::

        __getattr__, __dir__ = lazy_namespace(__name__, {"CorrentropySAM": "._estimator"}, globals())
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
