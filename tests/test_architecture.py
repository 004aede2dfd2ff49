"""The import graph of src/tvae: no cycles, and every import goes down (or across) the layers.

Every ``import`` statement counts, wherever it stands (module level, inside a function, under
``if TYPE_CHECKING``), because each one is an arrow a reader has to follow. A new module must be
placed in a layer below, or this test fails and asks for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tvae"

# From the top down; a module may import its own layer and the layers below it, never above.
# A name covers the module and, for a package, everything inside it; the root package "tvae"
# (its __init__: the public surface) covers only itself.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("command line", ("tvae.cli", "tvae.__main__", "tvae.distributed.__main__")),
    ("public object", ("tvae", "tvae.synthesizer", "tvae.parquet_parts", "tvae.evaluation")),
    (
        "jobs: training, sampling, conditional, distributed, files of models",
        (
            "tvae.fitting",
            "tvae.training",
            "tvae.schedule",
            "tvae.sampling",
            "tvae.drawn_rates",
            "tvae.quantile_fit",
            "tvae.conditional",
            "tvae.distributed",
            "tvae.privacy",
            "tvae.persistence",
            "tvae.checkpoint",
            "tvae.serialization",
            "tvae.inputs",
            "tvae.params",
            "tvae.devices",
            "tvae.threads",
            "tvae.precision",
            "tvae.floats",
            "tvae.datasets",
        ),
    ),
    (
        "the model: transformer, networks, loss, optimiser, layout, prior",
        (
            "tvae.transformer",
            "tvae.model",
            "tvae.loss",
            "tvae.optimizer",
            "tvae.exclusions",
            "tvae.label_ranges",
            "tvae.layout",
            "tvae.prior",
            "tvae.calibration",
            "tvae.refiner",
            "tvae.refiner_training",
            "tvae.drawn_maps",
            "tvae.sampled_repairs",
            "tvae.softmax_draws",
            "tvae.gaussian_mixture",
            "tvae.kinds",
            "tvae.codec",
        ),
    ),
    ("base: errors, files, version", ("tvae.errors", "tvae.files", "tvae.version")),
]


def module_names(root: Path = SRC) -> dict[str, Path]:
    """``{dotted name: path}`` of every module under ``root`` (a package is its ``__init__``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (``tvae.loss.SpanIndex`` -> ``tvae.loss``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``module`` imports, at any depth of its code."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The position of ``module``'s layer (0 = top), by its longest matching name."""
    best, depth = None, -1
    for position, (_, names) in enumerate(layers):
        for name in names:
            inside = "." in name and module.startswith(name + ".")  # not the root package
            if (module == name or inside) and name.count(".") > depth:
                best, depth = position, name.count(".")
    return best


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Each import of a module from a layer above its own, as a readable line."""
    wrong = []
    for module, targets in sorted(graph.items()):
        own = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if own is not None and theirs is not None and theirs < own:
                wrong.append(f"{module} ({layers[own][0]}) imports {target} ({layers[theirs][0]})")
    return wrong


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_module_has_a_layer(graph) -> None:
    unplaced = [m for m in graph if layer_of(m) is None]
    assert not unplaced, f"place these modules in LAYERS of {Path(__file__).name}: {unplaced}"


def test_no_import_cycles(graph) -> None:
    assert find_cycles(graph) == []


def test_imports_go_down_the_layers(graph) -> None:
    assert upward_imports(graph) == []


def test_the_library_never_imports_the_command_line(graph) -> None:
    cli = {m for m in graph if layer_of(m) == 0}
    offenders = sorted(m for m, targets in graph.items() if m not in cli and targets & cli)
    assert offenders == []


def test_the_checks_see_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checks themselves, on a small package built here: they must catch what they claim."""
    package = tmp_path / "tvae"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text("from tvae.low import helper\n")
    (package / "low" / "__init__.py").write_text("from .helper import f\n")
    (package / "low" / "helper.py").write_text(
        "def f():\n    from tvae.top import g  # hidden in a function\n    return g\n"
    )
    small = import_graph(package)
    assert small["tvae.low"] == {"tvae.low.helper"}  # relative import resolved
    assert "tvae.top" in small["tvae.low.helper"]  # function-level import seen
    assert find_cycles(small) == [["tvae.low.helper", "tvae.top"]]
    layers = [("top", ("tvae", "tvae.top")), ("low", ("tvae.low",))]
    assert layer_of("tvae.unplaced", layers) is None  # the root package covers only itself
    assert upward_imports(small, layers) == ["tvae.low.helper (low) imports tvae.top (top)"]
