"""No trainlab module touches another trainlab class's private members (issue 28: callbacks, guards and the
trainer are driven through public methods).

Every module under src/trainlab is parsed with ``ast``; the private names (one leading underscore, not dunder)
that trainlab classes define (methods and class attributes in their bodies, attributes assigned as
``self._name``) are collected, and every attribute access ``X._name`` with such a name where ``X`` is not
``self`` or ``cls`` is an offender. Third-party privates (torch's ``m._forward_hooks``, Optuna's
``study._storage``) have names no trainlab class defines and are out of scope.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "trainlab"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def defined_private_names(trees: dict[Path, ast.Module]) -> set[str]:
    """The private names trainlab classes define: body methods and attributes, and ``self._name = ...``."""
    names: set[str] = set()
    for tree in trees.values():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for item in cls.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(item.name)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    names.add(node.attr)
    return {n for n in names if _private(n)}


def offenders(trees: dict[Path, ast.Module]) -> list[str]:
    """Every ``X._name`` (X not self/cls) whose ``_name`` a trainlab class defines, as ``path:line: code``."""
    names = defined_private_names(trees)
    found = []
    for path, tree in sorted(trees.items()):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr in names):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in SRC.rglob("*.py")}


def test_no_module_touches_another_trainlab_classs_private_members() -> None:
    bad = offenders(_trees())
    print("\n".join(bad))
    assert len(bad) == 0, "private members used from outside their class:\n" + "\n".join(bad)


def test_the_check_sees_an_offender() -> None:
    """The scan finds what it must: a private attribute assigned in a class and read through another name."""
    code = ast.parse(
        "class Guard:\n    def __init__(self):\n        self._x = 1\n    def _stop(self):\n        return self._x\n"
        "def outside(guard):\n    guard._stop()\n    return guard._x, guard._other, guard.__class__\n"
    )
    assert offenders({SRC / "fake.py": code}) == ["trainlab/fake.py:7: guard._stop", "trainlab/fake.py:8: guard._x"]
