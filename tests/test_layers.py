"""Imports flow one way, as docs/architecture.md draws them: no package imports a layer above it or
a sibling of its own layer, and a function-local import says why it is local."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trainlab"

# lowest first; a unit may import only from units in lower layers (and from itself)
LAYERS: list[tuple[str, ...]] = [
    (
        "version",
        "errors",
        "formatting",
        "cpu",
        "names",
        # what everything may raise or print; how values are written; threads decided before torch loads; the light name
        # table
    ),
    ("bounded",),  # untrusted text read within bounds (YAML, JSON), the memory available
    ("atomic", "registry"),  # atomic files, names -> constructors (spec strings use formatting)
    ("suggest",),  # what a typo meant: close matches, aliases, a `try: KEY=VALUE` that works
    ("config",),  # the schema, YAML and dotted overrides
    ("data", "nn"),  # tensors in, modules out
    ("runs",),  # the run directory's files
    ("training",),  # the loop, its events and callbacks, optimizers, metrics
    ("diagnose", "report"),  # babysitting checks; plots and pages
    ("build",),  # the one run builder
    ("session",),  # one run's life cycle: claim, files, typed summary, final status (every run kind)
    ("runner", "evaluate", "classical"),  # run kinds: train/resume, evaluate/rebuild reports, scikit-learn baselines
    ("stacking",),  # several runs trained as one stacked model, each member a run session
    ("comparisons", "sweeps"),  # many runs
    ("lessons",),  # experiments built on all of the above
    ("reproductions",),  # published tables re-run: baselines, runs and lessons' measurements
    ("api",),  # the public Python API
    ("lab",),  # trainlab lab: the local web app; runs as worker subprocesses (needs the lab extra)
    ("cli", "__init__"),  # the command line and the package facade
    ("__main__",),  # python -m trainlab
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """The layering unit of a dotted module name: ``trainlab.training.loop`` -> ``training``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        out.append((".".join(rel.parts), path))
    return out


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported trainlab module, inside a function) for every import of trainlab in a file."""
    tree = ast.parse(path.read_text())
    local = {
        id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "trainlab" else [f"trainlab.{a.name}" for a in node.names]
        for name in names:
            if name == "trainlab" or name.startswith("trainlab."):
                found.append((node.lineno, name, id(node) in local))
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(m) for m, _ in modules()}
    assert units <= set(LAYER), f"add these to LAYERS (and docs/architecture.md): {sorted(units - set(LAYER))}"


def test_imports_flow_down() -> None:
    bad = []
    for module, path in modules():
        src = unit_of(module)
        for line, target, _ in imports(path):
            dst = unit_of(target)
            if dst == src or dst == "version":
                continue
            if LAYER.get(dst, 99) >= LAYER[src]:
                bad.append(
                    f"{path.relative_to(SRC.parent)}:{line}: {src} (layer {LAYER[src]}) imports {target} (layer "
                    f"{LAYER.get(dst)})"
                )
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    known = {m for m, _ in modules()}
    for module, path in modules():
        graph[module] = set()
        for _, target, _ in imports(path):
            while target not in known and "." in target:  # `from trainlab.x import name` of a function
                target = target.rsplit(".", 1)[0]
            if target in known and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    # a package's __init__ re-exports its modules: an edge into a package means into its __init__
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if seen.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                if not all(
                    c.startswith(n + ".") or c == n for c in cycle[1:-1]
                ):  # not a package importing its own submodules
                    pytest.fail("import cycle: " + " -> ".join(cycle))
            elif n not in seen:
                visit(n)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)


def test_function_local_imports_say_why() -> None:
    """A function-local import stays only to keep start-up fast or an optional dependency optional."""
    bad = []
    for _, path in modules():
        lines = path.read_text().split("\n")
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                # the reason is on the import's lines or on a comment line of the import block above it
                i = node.lineno - 1
                text = "\n".join(lines[i : node.end_lineno])
                j = i - 1
                while (
                    j >= 0
                    and lines[j].strip()
                    and (lines[j].strip().startswith(("#", "import ", "from ", ")")) or lines[j].startswith("        "))
                    and not lines[j].strip().startswith(("def ", '"""'))
                ):
                    text += "\n" + lines[j]
                    j -= 1
                if "lazy:" not in text and "optional:" not in text:
                    bad.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {lines[i].strip()}")
    assert not bad, (
        "function-local imports without a '# lazy: ...' or '# optional: ...' reason (or move them to the top):\n"
        + "\n".join(bad)
    )


@pytest.mark.parametrize(
    "name", ["training", "sweeps", "comparisons", "runs", "report", "data", "nn", "diagnose", "lessons"]
)
def test_subpackages_import_as_modules(name: str) -> None:
    import importlib
    import types

    module = importlib.import_module(f"trainlab.{name}")
    assert isinstance(module, types.ModuleType) and module.__name__ == f"trainlab.{name}"


def test_public_api_names() -> None:
    import trainlab

    assert callable(trainlab.train) and callable(trainlab.sweep) and callable(trainlab.compare)
    import trainlab.training as t

    assert t.__name__ == "trainlab.training"


def test_architecture_page_lists_the_layers_in_order() -> None:
    """docs/architecture.md's layer table has the same rows, in the same order, as LAYERS."""
    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    table = doc[doc.index("| layer | units |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = [tuple(u.strip(" `") for u in line.split("|")[2].split(",")) for line in table]
    assert rows == LAYERS
    numbers = [float(line.split("|")[1]) for line in table]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
