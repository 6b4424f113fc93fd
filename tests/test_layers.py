"""Layers import one way: a module never imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "gnomon"

#: Each layer, and the layers above it that it must never import.
ABOVE = {
    "domain": {"store", "engine", "services", "api", "web", "cli", "config", "triggers"},
    "triggers": {"store", "engine", "services", "api", "web", "cli"},
    "store": {"engine", "services", "api", "web", "cli"},
    "engine": {"services", "api", "web", "cli"},
    "services": {"api", "web", "cli"},
    "api": {"web", "cli"},
    "web": {"cli"},
}


def _imported_layers(package: Path) -> dict[str, set[str]]:
    """Each gnomon package the modules of `package` import, with the modules importing it."""
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "gnomon" and len(parts) > 1:
                    found.setdefault(parts[1], set()).add(str(path.relative_to(SOURCE)))
    return found


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_a_layer_imports_no_layer_above_it(layer: str) -> None:
    imported = _imported_layers(SOURCE / layer)
    wrong = {above: sorted(imported[above]) for above in ABOVE[layer] if above in imported}
    assert not wrong, f"{layer} imports layers above it: {wrong}"


def test_the_check_sees_imports() -> None:
    # The check itself: the web layer's imports of the API layer are found.
    assert "api" in _imported_layers(SOURCE / "web")
