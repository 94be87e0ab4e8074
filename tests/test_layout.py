"""The package is laid out as the data flows, and dependencies point one way.

Each stage may import from itself and from the stages before it, never from one after it (or
beside it): ``core`` knows nothing of the rest; ``commands`` may use everything. A new module
lands in its stage's subpackage, and this test says when an import would point the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

PACKAGE: Final = Path(__file__).resolve().parents[1] / "monitor"

#: Stages in the order of the flow (docs/architecture.md); stages of one rank are side by side.
RANK: Final = {
    "core": 0,
    "config": 1,
    "observe": 1,
    "canvas": 2,
    "store": 2,
    "simulator": 2,
    "replicas": 3,
    "watch": 4,
    "delivery": 4,
    "web": 5,
    "service": 6,
    "app": 7,
    "commands": 8,
    "__main__": 9,
}


def imported(path: Path) -> list[str]:
    """The ``monitor.*`` modules ``path`` imports (anywhere in it, lazily too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name.startswith("monitor.")]


def stage_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def wrong_way(stage: str, modules: list[str]) -> list[str]:
    """Those of ``modules`` that ``stage`` must not import: a later stage, or one beside it."""
    return [
        module
        for module in modules
        if (target := module.split(".")[1]) != stage and RANK.get(target, 99) >= RANK[stage]
    ]


MODULES: Final = sorted(
    path for path in PACKAGE.rglob("*.py") if path.parent != PACKAGE or path.stem != "__init__"
)


def test_every_module_is_in_a_stage() -> None:
    strays = [str(p.relative_to(PACKAGE)) for p in MODULES if stage_of(p) not in RANK]
    assert strays == [], "modules outside a stage's subpackage"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    wrong = wrong_way(stage_of(path), imported(path))
    assert wrong == [], f"{path.relative_to(PACKAGE)} imports a later stage"


def test_the_check_sees_a_wrong_way_import(tmp_path: Path) -> None:
    """An import of a later stage, even a lazy one inside a function, is caught; one of an
    earlier stage or of its own is not."""
    path = tmp_path / "x.py"
    path.write_text(
        "from monitor.core.errors import MonitorError\n"
        "def f():\n    from monitor.store.base import Store\n",
        encoding="utf-8",
    )
    assert imported(path) == ["monitor.core.errors", "monitor.store.base"]
    assert wrong_way("core", imported(path)) == ["monitor.store.base"]
    assert wrong_way("canvas", imported(path)) == ["monitor.store.base"]  # beside it
    assert wrong_way("watch", imported(path)) == []
