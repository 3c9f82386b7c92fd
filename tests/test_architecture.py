"""The layer rules that matter most, checked on the source itself (``lint-imports`` in
``make test`` checks all of them; this test keeps the first one even where it is not run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import custodes

PACKAGE = Path(custodes.__file__).parent


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, at any depth of the file
    (imports inside functions count), with relative imports resolved."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: str) -> list[tuple[str, Path]]:
    root = PACKAGE / folder
    return [
        (
            "custodes." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts),
            path,
        )
        for path in sorted(root.rglob("*.py"))
    ]


def test_the_checker_sees_every_way_of_importing_bootstrap() -> None:
    for text in (
        "from custodes import bootstrap\n",
        "import custodes.bootstrap\n",
        "def f():\n    from custodes.bootstrap import Vault\n",
        "from .. import bootstrap\n",
    ):
        assert "custodes.bootstrap" in imported_modules(text, "custodes.services.x"), text
    assert "custodes.bootstrap" not in imported_modules(
        "from custodes.services import context\n", "custodes.services.x"
    )


@pytest.mark.parametrize(("module", "path"), modules_under("services"), ids=lambda v: str(v))
def test_no_service_imports_bootstrap(module: str, path: Path) -> None:
    """Services are given a Context of ports; bootstrap, the wiring, is above them."""
    assert "custodes.bootstrap" not in imported_modules(path.read_text(), module)


@pytest.mark.parametrize(("module", "path"), modules_under("core"), ids=lambda v: str(v))
def test_core_imports_nothing_of_the_project_outside_core(module: str, path: Path) -> None:
    outside = {
        name
        for name in imported_modules(path.read_text(), module)
        if name.startswith("custodes.") and not name.startswith("custodes.core")
    }
    assert not outside
