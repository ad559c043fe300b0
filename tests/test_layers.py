"""The package's layers contract: every import points down the layers, and no module imports itself back.

Layers, lowest first (a module may import its own layer and those below it):
    foundation  hashsearch.errors, hashsearch.progress
    text        hashsearch.text: reading sources, analysing text, the vocabulary and its weights
    index       hashsearch.index: codes, the code index, word index, sketches, filters, segments, ranking
    model       hashsearch.model: the network, its training, the hasher that turns weights into codes
    store       hashsearch.store: the database schema and the reads and writes of an index's rows
    api         hashsearch.api: building and opening indexes, snapshots, the Searcher
    app         hashsearch (its __init__), hashsearch.cli, hashsearch.server, hashsearch.__main__
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hashsearch"
LAYERS = ["foundation", "text", "index", "model", "store", "api", "app"]
FOUNDATION = {"hashsearch.errors", "hashsearch.progress"}
APP = {"hashsearch", "hashsearch.cli", "hashsearch.server", "hashsearch.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module in APP:
        return "app"
    return module.split(".")[1]


def package_imports(path: Path) -> set[str]:
    """The hashsearch modules ``path`` imports, anywhere in it (functions included), as absolute names."""
    here = module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "hashsearch"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "hashsearch":
                continue
            for alias in node.names:  # ``from hashsearch.index import codes`` imports a module
                found.add(f"{name}.{alias.name}" if (PACKAGE.parent / f"{name}.{alias.name}".replace(".", "/")
                                                     ).with_suffix(".py").exists() else name)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(path): package_imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_layer():
    assert {layer(module) for module in graph()} <= set(LAYERS)


def test_imports_point_down_the_layers():
    upward = [f"{module} ({layer(module)}) imports {target} ({layer(target)})"
              for module, targets in graph().items() for target in targets
              if LAYERS.index(layer(target)) > LAYERS.index(layer(module))]
    assert upward == []


def test_no_import_cycles():
    edges = graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        seen[module] = 1
        for target in sorted(edges.get(module, ())):
            if target == module or target not in edges or (target in APP and module == "hashsearch"):
                continue
            if seen.get(target) == 1:
                return path + [module, target]
            if target not in seen and (cycle := visit(target, path + [module])):
                return cycle
        seen[module] = 2
        return None

    cycles = [cycle for module in sorted(edges) if module not in seen and (cycle := visit(module, []))]
    assert cycles == []
