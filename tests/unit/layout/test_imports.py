"""The import rules of the layout: the library stands alone, and imports point one way.

- `retail_mlops` imports without ZenML (a Bento, a Prophet worker and a unit test need no stack);
- the library and `configs` never import `steps` or `pipelines`; the library never imports
  `feature_repo` (feature_repo imports the library, not the other way round);
- the Bentos import the library only;
- no project module edits `sys.path` or re-exports lazily.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "retail_mlops"


def _modules(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imported(path: Path) -> set[str]:
    """Top-level names of every module `path` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported(path)}


def test_every_library_module_imports_without_zenml() -> None:
    modules = _modules(LIBRARY)
    assert len(modules) > 30
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('zenml', 'steps', 'pipelines', 'feature_repo'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "retail_mlops",
            {"zenml", "steps", "pipelines", "materializers", "feature_repo", "configs"},
        ),
        ("configs", {"steps", "pipelines"}),
        ("bentos", {"zenml", "steps", "pipelines", "configs"}),
        ("feature_repo", {"zenml", "steps", "pipelines"}),
    ],
)
def test_imports_point_one_way(folder: str, forbidden: set[str]) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_roots(path) & forbidden)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if _roots(path) & forbidden
    }
    assert wrong == {}


def test_steps_hold_only_steps_and_the_client() -> None:
    """Every module under steps/ is a package init, the client, or one @step of its own name."""
    stray = []
    for path in sorted((ROOT / "steps").rglob("*.py")):
        if path.name == "__init__.py" or path.relative_to(ROOT).as_posix() == "steps/client.py":
            continue
        tree = ast.parse(path.read_text())
        steps = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            and any(
                (isinstance(d, ast.Name) and d.id == "step")
                or (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "step")
                for d in node.decorator_list
            )
        ]
        if steps != [path.stem]:
            stray.append(f"{path.relative_to(ROOT)}: {steps}")
    assert stray == []


def test_no_module_edits_sys_path_or_reexports_lazily() -> None:
    offenders = []
    for folder in (
        "retail_mlops",
        "steps",
        "pipelines",
        "materializers",
        "bentos",
        "configs",
        "feature_repo",
        "bench",
        "scripts",
    ):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            if "sys.path.insert" in text or "sys.path.append" in text or "__getattr__ =" in text:
                offenders.append(str(path.relative_to(ROOT)))
    offenders += [p.name for p in (ROOT / "run.py",) if "sys.path.insert" in p.read_text()]
    assert offenders == []
