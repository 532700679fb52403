"""The tests import what they share one way: ``from tests.<module> import ...`` of a helper module
(helpers, browser_page, hub_server, train_app), never conftest (pytest's, imported by pytest under its
own name: a second spelling loads a second copy) and never another test module (its tests would be
collected again, and its module-level skips and fixtures would leak in). Fixtures come from conftest.py
by name, without an import."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def local_modules() -> set[str]:
    """The module names of the Python files directly in tests/."""
    return {path.stem for path in TESTS.glob("*.py")}


def imported_names(tree: ast.AST) -> list[tuple[int, str, int]]:
    """(line, dotted name, relative level) of every module an import statement anywhere in ``tree``
    reaches: ``from a.b import c`` reaches ``a.b`` and ``a.b.c`` (``c`` may be a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.append((node.lineno, base, node.level))
            found += [(node.lineno, f"{base}.{alias.name}".lstrip("."), node.level) for alias in node.names]
    return found


def problems_in(source: str, local: set[str]) -> list[str]:
    """What is wrong with the imports of one file of tests/ (``source``), given the names of tests/'s modules."""
    problems = []
    for line, name, level in imported_names(ast.parse(source)):
        parts = name.split(".")
        if level:
            problems.append(f"line {line}: relative import of {name or '.'}: write from tests.<module> import ...")
        elif parts[0] in local:
            problems.append(f"line {line}: bare import of {name}: write from tests.{parts[0]} import ...")
        elif parts[0] == "tests" and len(parts) > 1 and parts[1] == "conftest":
            problems.append(f"line {line}: imports conftest: use tests.helpers (fixtures need no import)")
        elif parts[0] == "tests" and len(parts) > 1 and parts[1].startswith("test_"):
            problems.append(f"line {line}: imports the test module {parts[1]}: move what it shares to a helper module")
    return problems


def test_no_test_file_imports_conftest_or_another_test_module_or_a_helper_a_second_way() -> None:
    local = local_modules()
    found = {
        path.name: problems
        for path in sorted(TESTS.glob("*.py"))
        if (problems := problems_in(path.read_text(encoding="utf-8"), local))
    }
    assert not found, found


def test_the_check_sees_each_wrong_spelling_wherever_it_is() -> None:
    local = {"conftest", "helpers", "hub_server", "test_browser", "test_inside"}
    fine = "from tests.helpers import make_text\nimport tests.hub_server\nfrom chargen.model import CharRNN\n"
    assert problems_in(fine, local) == []
    wrong = {
        "from conftest import make_text": "bare import of conftest",
        "from tests.conftest import make_text": "imports conftest",
        "from tests import conftest": "imports conftest",
        "import tests.conftest": "imports conftest",
        "from helpers import make_text": "bare import of helpers",
        "import hub_server": "bare import of hub_server",
        "from tests.test_browser import Page": "imports the test module test_browser",
        "from tests import test_inside": "imports the test module test_inside",
        "import test_inside": "bare import of test_inside",
        "from .helpers import make_text": "relative import of helpers",
        "def f():\n    from conftest import ROOT\n": "bare import of conftest",  # inside a function too
    }
    for source, message in wrong.items():
        problems = problems_in(source, local)
        assert problems and message in problems[0], (source, problems)
