"""The package's shape: importing chargen is cheap (its names load on first use), every public name
resolves to the object in its own module, and the layers keep to themselves (only chargen.app imports
gradio; the library never imports the app)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chargen

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chargen"


@pytest.mark.slow
def test_importing_chargen_imports_neither_torch_nor_gradio() -> None:
    code = "import sys, chargen; print('torch' in sys.modules, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", chargen.__all__)
def test_every_public_name_is_its_modules_object(name: str) -> None:
    import importlib

    value = getattr(chargen, name)
    module = importlib.import_module(chargen._MODULE_OF[name])
    assert value is getattr(module, name)
    assert name in dir(chargen)


def test_the_exports_and_all_name_the_same_things() -> None:
    assert sorted(chargen.__all__) == sorted(chargen._MODULE_OF)
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        chargen.nonesuch  # noqa: B018


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "chargen":  # `from chargen import app` names a sub-package
                names.update(f"chargen.{alias.name}" for alias in node.names)
    return names


def test_only_the_app_package_imports_gradio_and_nothing_outside_it_imports_the_app() -> None:
    for path in PACKAGE.rglob("*.py"):
        inside_app = (PACKAGE / "app") in path.parents
        imported = _imports(path)
        if not inside_app:
            assert not any(n == "gradio" or n.startswith("gradio.") for n in imported), f"{path} imports gradio"
            assert not any(n.startswith("chargen.app") for n in imported), f"{path} imports the web app"


def test_gradio_private_names_appear_in_one_module_only() -> None:
    """gradio's internals (its private modules and underscore names) are used by gradio_internals.py alone."""
    for path in (PACKAGE / "app").rglob("*.py"):
        if path.name == "gradio_internals.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in _imports(path):
            assert not name.startswith("gradio."), f"{path.name} imports {name}: internals go in gradio_internals.py"
        assert "._queue" not in text and "state_holder" not in text and "LocalContext" not in text, path.name
        assert "root_block" not in text, path.name


FRONT_END = re.compile(r"<[A-Za-z/!]|=>|\bfunction\b|^\s*[.#@]?[\w-]+(\s*[.#:>][\w-]+)*\s*\{", re.M)
"""What marks a string as front-end code: an HTML tag, an arrow or function, a CSS rule's selector."""


def test_no_module_holds_a_long_script_in_a_string() -> None:
    """Front-end code (script, styles, HTML) lives in real files: no string of it in a .py file runs past
    20 lines (sample texts for the page, docstrings and the like may)."""
    for path in [*PACKAGE.rglob("*.py"), ROOT / "app.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                lines = node.value.count("\n") + 1
                if FRONT_END.search(node.value):
                    assert lines <= 20, f"{path.relative_to(ROOT)}:{node.lineno}: {lines} lines of front-end code"


@pytest.mark.parametrize(
    "text, is_front_end",
    [
        ("<style>\n#a { color: red; }", True),
        ("() => { window.chargen.go(); }", True),
        ("#expect_view .token {\n margin: 0 }", True),
        ("First Citizen:\nBefore we proceed any further", False),
        ("config = {}\nreturn config", False),
    ],
)
def test_front_end_code_is_recognised(text: str, is_front_end: bool) -> None:
    assert bool(FRONT_END.search(text)) is is_front_end
