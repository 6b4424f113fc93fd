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
    # The configuration file's model: read by the services, the CLI and the embedding API.
    "config": {"store", "services", "api", "web", "cli"},
    "store": {"engine", "services", "api", "web", "cli"},
    "engine": {"services", "api", "web", "cli"},
    "services": {"api", "web", "cli"},
    "api": {"web", "cli"},
    "web": {"cli"},
}


def _layers_imported(text: str, package: tuple[str, ...]) -> set[str]:
    """The gnomon packages a module of gnomon.<package…> imports, in whatever form."""
    layers: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            # Relative: resolved against the module's own package.
            base = ["gnomon", *package[: len(package) - (node.level - 1)]]
            module = [*base, *(node.module.split(".") if node.module else [])]
            names = [".".join(module)] + [".".join([*module, a.name]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from gnomon import services` imports the layer it names.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gnomon" and len(parts) > 1:
                layers.add(parts[1])
    return layers


def _imported_layers(layer: str) -> dict[str, set[str]]:
    """Each gnomon package the modules of `layer` (a package, or a module of its own) import,
    with the modules importing it."""
    package_dir = SOURCE / layer
    paths = sorted(package_dir.rglob("*.py")) if package_dir.is_dir() else [SOURCE / f"{layer}.py"]
    assert paths and all(path.is_file() for path in paths), f"no layer {layer}"
    found: dict[str, set[str]] = {}
    for path in paths:
        package = path.relative_to(SOURCE).parent.parts
        for layer in _layers_imported(path.read_text(encoding="utf-8"), package):
            found.setdefault(layer, set()).add(str(path.relative_to(SOURCE)))
    return found


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_a_layer_imports_no_layer_above_it(layer: str) -> None:
    imported = _imported_layers(layer)
    wrong = {above: sorted(imported[above]) for above in ABOVE[layer] if above in imported}
    assert not wrong, f"{layer} imports layers above it: {wrong}"


def test_the_check_sees_imports_of_every_form() -> None:
    # The check itself: the web layer's imports of the API layer are found, and so are the
    # forms that name a layer without spelling gnomon.<layer>, as in a module of gnomon.store.
    assert "api" in _imported_layers("web")
    assert "ids" in _imported_layers("domain")  # a layer that is one module
    for line in ("from gnomon import api", "from .. import api", "from ..api.access import x"):
        assert "api" in _layers_imported(line, ("store",)), line
    assert _layers_imported("from . import sql", ("store",)) == {"store"}
