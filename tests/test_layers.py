"""The layering contract in pyproject.toml holds: `lint-imports` is part of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return found


def test_the_import_contracts_are_kept() -> None:
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(("module", "upward", "reported"), [
    ("errors.py", "from cnnstudio.training.store import runs", "cnnstudio.errors -> cnnstudio.training.store.runs"),
    # Inside training: the run store importing the fit breaks the rooms' contract.
    ("training/store/naming.py", "from cnnstudio.training.fit import trainer",
     "cnnstudio.training.store.naming -> cnnstudio.training.fit.trainer"),
])
def test_a_layer_importing_upwards_breaks_the_contract(tmp_path: Path, module: str, upward: str, reported: str) -> None:
    # The same contracts over a copy of the package with one upward import added: the check can fail.
    copy = tmp_path / "cnnstudio"
    shutil.copytree(ROOT / "cnnstudio", copy, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{upward}  # upward\n", encoding="utf-8")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert reported in out.stdout


def _cycles(package: str) -> list[list[str]]:
    """The import cycles among `package`'s modules (Tarjan's strongly connected components),
    counting every import grimp sees, function-level ones too, but none under TYPE_CHECKING."""
    import grimp

    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_anywhere_in_the_package():
    assert _cycles("cnnstudio") == []


def test_the_cycle_check_finds_a_planted_cycle(tmp_path, monkeypatch):
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from cyclepkg import b\n")
    (package / "b.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b"]]
