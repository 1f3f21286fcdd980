"""Imports point one way (DESIGN.md §2): a walk over every module keeps it true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (
    "carriers",
    "tenants",
    "wismo.tracking",
    "wismo.api",
    "notifications",
    "tracking_pages",
    "dashboard",
)

# package -> the project packages it may import (besides itself)
ALLOWED = {
    "carriers": set(),
    "tenants": set(),
    "wismo.tracking": {"carriers", "tenants"},
    "notifications": {"carriers", "tenants", "wismo.tracking"},
    "tracking_pages": {"carriers", "tenants", "wismo.tracking", "notifications"},
    "wismo.api": {"carriers", "tenants", "wismo.tracking", "notifications", "tracking_pages"},
    "dashboard": {"carriers", "tenants", "wismo.tracking", "notifications", "tracking_pages"},
}


def _package_of(module: str) -> str | None:
    for package in sorted(PROJECT, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    if module == "wismo" or module.startswith("wismo."):
        return "wismo"  # the glue: settings, urls, celery app
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str):
    folder = ROOT.joinpath(*package.split("."))
    for path in folder.rglob("*.py"):
        if package == "wismo" or "migrations" in path.parts:
            continue
        yield path


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package):
    violations = []
    for path in _modules(package):
        for module in _imports(path):
            target = _package_of(module)
            if target is None or target == package:
                continue
            if target not in ALLOWED[package]:
                violations.append(f"{path.relative_to(ROOT)} imports {module}")
    assert violations == []


def test_the_walk_sees_the_modules_it_checks():
    assert len(list(_modules("wismo.tracking"))) > 5
    assert "tenants" in {_package_of(m) for p in _modules("wismo.tracking") for m in _imports(p)}
