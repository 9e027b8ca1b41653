"""The layering of docs/ARCHITECTURE.md, read from the source: the core (``streaming``)
imports no app and names none of their models or admin pages, and the engine's modules
import nothing from Django."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("tts", "voicebot")
PLAIN_PYTHON = ("engine", "segmenter", "scheduling", "audio", "stats")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def named_references(path: Path) -> set[str]:
    """String constants that name an app's model (``"voicebot.Turn"``) or admin URL."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for app in APPS:
                if node.value.startswith((f"{app}.", f"admin:{app}_")):
                    found.add(node.value)
    return found


def core_sources() -> list[Path]:
    """``streaming``'s modules; its first migration predates the rule and stays history."""
    return [p for p in sorted((ROOT / "streaming").rglob("*.py"))
            if p.relative_to(ROOT).as_posix() != "streaming/migrations/0001_initial.py"]


@pytest.mark.parametrize("path", core_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_core_depends_on_no_app(path: Path) -> None:
    arrows = {m for m in imported_modules(path) if m.split(".")[0] in APPS}
    assert arrows | named_references(path) == set()


@pytest.mark.parametrize("name", PLAIN_PYTHON)
def test_the_engine_modules_import_nothing_from_django(name: str) -> None:
    modules = imported_modules(ROOT / "streaming" / f"{name}.py")
    assert {m for m in modules if m.split(".")[0] in ("django", "channels")} == set()
