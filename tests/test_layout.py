"""The layout holds: import contracts kept (and a new cycle breaks them), no private name
imported across modules, no module over 400 lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "signalling", "media", "policies", "consent", "web")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "migrations" not in p.parts)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(("module", "line"), [
    # An upward import: the store reaching for the application factory (a cycle, too).
    ("server/store/db.py", "import server.app  # noqa"),
    # Two feature packages importing each other.
    ("server/casework/caseload.py", "import server.joining.invitations  # noqa"),
    # Pure rules reaching for I/O.
    ("policies/facts.py", "import server.clock  # noqa"),
])
def test_a_new_upward_or_circular_import_fails(tmp_path: Path, module: str, line: str) -> None:
    for name in (*PACKAGES, "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.po", "*.pot",
                                                          "static", "templates"))
        else:
            shutil.copy(source, tmp_path / name)
    target = tmp_path / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def private_imports(path: Path) -> list[str]:
    """`from rapport.module import _name` anywhere, and `module._name` on an imported module."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    imported_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module \
                and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports "
                                 f"{node.module}.{alias.name}")
                else:
                    imported_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    imported_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in imported_modules and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses "
                         f"{node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    found = [hit for path in modules() for hit in private_imports(path)]
    assert found == []


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
