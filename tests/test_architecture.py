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
    # The API serves what the dashboard's services compute (search, ready replies, analytics,
    # WISMO contacts); the dashboard never imports the API, so the arrow points one way.
    "wismo.api": {
        "carriers",
        "tenants",
        "wismo.tracking",
        "notifications",
        "tracking_pages",
        "dashboard",
    },
    "dashboard": {"carriers", "tenants", "wismo.tracking", "notifications", "tracking_pages"},
}


# Glue modules any package may import: they import nothing of the project at module level
# (checked below), so they add no cycle. wismo.metrics: the counters polling, webhook intake and
# the email sender increment; wismo.db: the hottest statements' database helpers (prepared
# statements, the first statement as the health check).
LEAVES = {"wismo.metrics", "wismo.db"}


def _package_of(module: str) -> str | None:
    if module in LEAVES:
        return None
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


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaves_import_nothing_of_the_project_at_module_level(leaf):
    tree = ast.parse(ROOT.joinpath(*leaf.split(".")).with_suffix(".py").read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top.add(node.module)
    assert {m for m in top if _package_of(m) is not None} == set()
