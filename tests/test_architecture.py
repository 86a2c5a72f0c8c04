"""The package's shape: imports flow one way through declared layers, no subpackage reaches into another's private
modules, ``import hrr`` stays cheap, and the front door holds what docs/architecture.md says it holds."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import hrr

ROOT = Path(hrr.__file__).resolve().parent

# What each unit may import (besides itself). "kernel" = the private modules hrr/_*.py; "top" = hrr/__init__.py.
ALLOWED: dict[str, set[str]] = {
    "kernel": set(),
    "afr": {"kernel"},
    "data": {"kernel"},
    "datasets": {"kernel"},
    "gan": {"kernel"},
    "msr": {"kernel"},
    "detect": {"kernel", "data", "afr"},
    "robust": {"kernel", "gan"},
    "demo": {"kernel", "top", "afr", "data", "datasets", "detect", "gan", "msr"},
    "top": {"kernel", "afr", "data", "detect", "gan", "msr"},
    "_cli": {"kernel", "afr", "data", "demo", "detect", "gan", "msr", "robust"},
    "cli": {"kernel", "_cli"},
}


def _unit(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    if len(parts) > 1:
        return parts[0]
    if parts[0] == "__init__.py":
        return "top"
    return "cli" if parts[0] in ("cli.py", "__main__.py") else "kernel"  # the command line and `python -m hrr`


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if n == "hrr" or n.startswith("hrr.")]


def _target(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    return parts[1] if (parts[1] == "_cli" or not parts[1].startswith("_")) else "kernel"


def _edges() -> list[tuple[str, str, str, str]]:
    """(importing file, its unit, imported module, that module's unit) for every hrr import in the package."""
    files = sorted(ROOT.rglob("*.py"))
    return [(str(f.relative_to(ROOT)), _unit(f), m, _target(m)) for f in files for m in _imports(f)]


def test_units_import_only_the_layers_below_them() -> None:
    wrong = [(f, m) for f, unit, m, target in _edges() if target != unit and target not in ALLOWED[unit]]
    assert not wrong, wrong


def test_no_subpackage_reaches_into_another_subpackages_private_module() -> None:
    wrong = []
    for f, unit, module, target in _edges():
        parts = module.split(".")
        if target not in ("kernel", "top", unit) and len(parts) > 2 and parts[2].startswith("_"):
            wrong.append((f, module))
    assert not wrong, wrong


def test_the_layer_graph_has_no_cycle() -> None:
    graph = {unit: deps - {unit} for unit, deps in ALLOWED.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert state.get(node) != 1, f"cycle: {' -> '.join((*path, node))}"
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in graph[node]:
            visit(dep, (*path, node))
        state[node] = 2

    for unit in graph:
        visit(unit, ())


def test_import_hrr_is_cheap() -> None:
    code = (
        "import sys, json, hrr; "
        "heavy = ('torch', 'diffusers', 'transformers', 'accelerate', 'cv2', 'matplotlib', 'sklearn'); "
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_the_front_door() -> None:
    assert set(hrr.__all__) == {*hrr._EXPORTS, "__version__"}
    for name in hrr._EXPORTS:
        obj = getattr(hrr, name)
        assert obj is getattr(__import__(hrr._EXPORTS[name], fromlist=[name]), name)
    assert set(hrr._EXPORTS) == {
        "scan_dataset", "fit_hrr", "TrainConfig", "HRRDetector", "evaluate",  # the workflow
        "LineEnhancer", "MultiScaleRetrospector", "KLSeparationLoss", "CorrentropySAM",  # the method
        "FGM", "PGD", "AdaptiveAdversarial", "AdaptiveMix",  # the regularizers
    }


@pytest.mark.parametrize("name", sorted(hrr._DEPRECATED))
def test_names_that_left_the_front_door_still_work_with_a_warning(name: str) -> None:
    home = hrr._DEPRECATED[name]
    with pytest.warns(DeprecationWarning, match=rf"hrr\.{name} is deprecated .* use {home}\.{name}"):
        obj = getattr(hrr, name)
    assert obj is getattr(__import__(home, fromlist=[name]), name)


def test_unknown_names_and_subpackages() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = hrr.nope
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hrr.gan.__name__ == "hrr.gan"  # subpackages as attributes, no warning


@pytest.mark.parametrize("package", ["afr", "data", "datasets", "demo", "detect", "gan", "msr", "robust"])
def test_every_public_name_of_a_subpackage_resolves(package: str) -> None:
    module = __import__(f"hrr.{package}", fromlist=["__all__"])
    for name in module.__all__:
        assert getattr(module, name) is not None, f"hrr.{package}.{name}"
