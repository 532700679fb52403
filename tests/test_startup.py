"""Start-up (issue 24): the page is served before torch is imported, the models load behind it, and what
arrives meanwhile waits for them.

``import chargen.app.demo`` imports no torch; the page is built from the models' outlines (config.json and
the safetensors header), which describe a model exactly as the loaded one; every event waits until the
models are loaded, keeping its name, docstring and signature (so the MCP tools stay as they are); the page's
script shows "loading the model…" on a disabled Generate button while ``GET /chargen/ready`` says false.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chargen.app import gradio_internals, views
from chargen.app.outlines import read_outline
from chargen.errors import CheckpointError
from tests.helpers import free_port, tiny_model

ROOT = Path(__file__).resolve().parents[1]
LOADING_WORDS = "loading the model…"
"""Written out independently of the catalogue (chargen/app/static/i18n/en.json, page.loading_model)."""
APP_MODULES = [
    "chargen.app.demo",
    "chargen.app.views",
    "chargen.app.widgets",
    "chargen.app.page",
    "chargen.app.generate_tab",
    "chargen.app.inside_tab",
    "chargen.app.inside_views",
    "chargen.app.train_views",
    "chargen.app.outlines",
    "chargen.app.gradio_internals",
    "chargen.app.session.card",
    "chargen.app.session.checks",
    "chargen.app.session.history",
    "chargen.app.session.presets",
    "chargen.app.session.store",
    "chargen.app.session.stream",
    "chargen.app.session.training_queue",
    "chargen.app.session.zero_gpu",
    "chargen.hosting.space",
    "chargen.hub",
]


def _fresh_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_the_app_and_the_page_it_builds_from_outlines_import_no_torch() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {APP_MODULES!r}: importlib.import_module(name)\n"
        "from pathlib import Path\n"
        "from chargen.app import demo\n"
        "from chargen.app.generate_tab import Handlers\n"
        "offered = demo.outline_app_models(None, Path('.').resolve())\n"
        "handlers = Handlers(offered, None, demo.PageBatching())\n"
        "page = demo.build_demo(offered, batching=demo.PageBatching(), handlers=handlers)\n"
        "print(handlers.loaded.is_set(), 'torch' in sys.modules)\n"
    )
    assert _fresh_python(code) == "False False"


def test_the_constants_the_page_keeps_without_torch_are_the_librarys() -> None:
    from chargen import checkpoint, checks, model
    from chargen.app import demo, inside_views
    from chargen.inference import inside
    from chargen.inference.batching import ServingSettings

    assert inside_views.CELL_KINDS == inside.CELL_KINDS
    assert inside_views.MAX_WIDTH == inside.MAX_BEAM_WIDTH
    assert model.CELLS == checks.CELLS == ("rnn", "lstm", "gru")
    assert (checkpoint.CONFIG_NAME, checkpoint.WEIGHTS_NAME) == ("config.json", "model.safetensors")
    assert isinstance(demo.BATCHING, ServingSettings)
    assert demo.BATCHING.max_active == demo.PageBatching().max_active == ServingSettings().max_active


def test_an_outline_says_what_the_loaded_model_says_on_the_page() -> None:
    from chargen.app import demo

    outlined = demo.outline_app_models(None, ROOT)
    loaded, notices = demo.load_app_models(None, ROOT)
    assert notices == [] and [o.name for o in outlined] == [m.name for m in loaded] == list(views.BUNDLED_MODELS)
    for outline, model in zip(outlined, loaded, strict=True):
        assert outline.model.num_parameters() == model.model.num_parameters()
        assert views.header_markdown(outline) == views.header_markdown(model)
        assert views.facts_markdown(outline) == views.facts_markdown(model)
        assert (outline.source, outline.facts) == (model.source, model.facts)


def test_what_cannot_be_outlined_is_loaded_first(tmp_path: Path) -> None:
    from chargen.app import demo

    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(ROOT / "checkpoints" / "python" / "config.json", half / "config.json")  # no weights
    with pytest.raises(CheckpointError, match="no outline"):
        read_outline(half)
    assert demo.outline_app_models(str(half), ROOT) is None
    assert demo.outline_app_models("someone/chargen-model", ROOT) is None  # a Hub repo
    assert [o.name for o in demo.outline_app_models(str(ROOT / "checkpoints" / "python"), ROOT)] == ["python"]


def _handlers() -> dict[str, Any]:
    def plain(prompt: str, length: int = 3) -> str:
        """Plain."""
        return prompt * length

    def stream(prompt: str, length: int = 3):
        """Stream."""
        yield from [prompt] * length

    async def coroutine(prompt: str, length: int = 3) -> str:
        """Coroutine."""
        return prompt * length

    async def async_stream(prompt: str, length: int = 3):
        """Async stream."""
        for _ in range(length):
            yield prompt

    return {"plain": plain, "stream": stream, "coroutine": coroutine, "async_stream": async_stream}


KINDS = (inspect.isgeneratorfunction, inspect.iscoroutinefunction, inspect.isasyncgenfunction)


@pytest.mark.parametrize("name", ["plain", "stream", "coroutine", "async_stream"])
def test_an_event_waits_for_the_models_as_the_same_kind_of_function(name: str) -> None:
    fn = _handlers()[name]
    ready = threading.Event()
    wrapped = gradio_internals.waiting(fn, ready)
    assert [kind(wrapped) for kind in KINDS] == [kind(fn) for kind in KINDS]
    assert (wrapped.__name__, wrapped.__doc__, inspect.signature(wrapped)) == (
        fn.__name__,
        fn.__doc__,
        inspect.signature(fn),
    )

    async def run_async() -> Any:
        if inspect.isasyncgenfunction(wrapped):
            return [update async for update in wrapped("ab", 2)]
        return await wrapped("ab", 2)

    def run() -> Any:
        if inspect.iscoroutinefunction(wrapped) or inspect.isasyncgenfunction(wrapped):
            return asyncio.run(run_async())
        return list(wrapped("ab", 2)) if inspect.isgeneratorfunction(wrapped) else wrapped("ab", 2)

    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(run()))
    worker.start()
    worker.join(timeout=0.3)
    assert results == [] and worker.is_alive()  # it waits: nothing came before the models did
    ready.set()
    worker.join(timeout=30)
    assert results == [run()] and results[0] in ("abab", ["ab", "ab"])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_python_app_py_answers_before_its_models_load_and_an_early_generate_waits(tmp_path: Path) -> None:
    """``python app.py``: ``/`` answers while torch is still being imported (``/chargen/ready`` false); a
    /generate sent then waits and returns ``compare()``'s texts; the page and its config are the same bytes
    before and after (the cached page holds no loading state); the MCP tools are the four, as described."""
    from chargen.app.generate_tab import Handlers
    from chargen.hub import load_model
    from chargen.inference.generate import compare
    from tests.helpers import load_benchmark, mcp_call

    load_test = load_benchmark("load_test")

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    env.pop("CHARGEN_MODELS", None)
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _answers(url):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.02)
        # Importing torch alone takes over a second: the page answers long before the models are loaded.
        assert _get_json(url + "chargen/ready") == {"ready": False}
        config = _get(url + "config")
        prompt = "ROMEO:\nWhat light "
        outputs: list[Any] = []
        early = threading.Thread(
            target=lambda: outputs.append(load_test.rest_generate(url, [prompt, 0.8, 120, 0, 1.0, "7", None], 120))
        )
        early.start()
        early.join(timeout=180)
        assert _get_json(url + "chargen/ready") == {"ready": True}
        expected = compare(load_model(ROOT / "checkpoints" / "shakespeare"), prompt, 120, temperature=0.8, seed=7)
        assert outputs and (outputs[0][0], outputs[0][1], outputs[0][2]) == (expected.greedy, expected.sampled, "7")
        assert LOADING_WORDS not in config.decode() and '"Generate"' in config.decode()
        assert _get(url + "config") == config

        async def work(session: Any) -> Any:
            return (await session.list_tools()).tools

        tools = {tool.name: tool for tool in mcp_call(url.rstrip("/"), work)}
        assert set(tools) == {"generate", "distribution", "sweep", "expectations"}
        assert tools["generate"].description.startswith(Handlers.generate.__doc__.split("\n")[0])
        assert list(tools["generate"].inputSchema["properties"])[:3] == ["prompt", "temperature", "length"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "mr"])
def test_the_generate_button_says_the_model_is_loading_until_it_is(language: str) -> None:
    """A served page whose ``ready`` is not set: the button reads the loading words (in the page's language,
    never a catalogue key) and is disabled; once set, it reads the Generate button's words again and works."""
    from chargen.app import i18n
    from chargen.app.demo import build_demo, serve
    from tests.browser_page import TIMEOUT_MS, Page, chromium

    ready = threading.Event()
    demo = build_demo({"tiny": tiny_model("lstm", seed=3)})
    serve(demo, ready=ready, quiet=True, server_name="127.0.0.1", server_port=free_port())
    try:
        with chromium() as browser:
            page = Page.__new__(Page)  # Page() waits for an idle network: the script asks /chargen/ready meanwhile
            page.page, page.errors = browser.new_page(), []
            page.page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.page.goto(f"{demo.local_url}?lang={language}", timeout=TIMEOUT_MS)
            button = page.page.locator("#generate")
            words = i18n.catalogue(language)
            assert words["page.loading_model"] == LOADING_WORDS or language != "en"
            page.page.wait_for_function(
                "(document.querySelector('#generate')?.textContent || '').trim() === "
                + json.dumps(words["page.loading_model"]),
                timeout=TIMEOUT_MS,
            )
            assert button.is_disabled()
            ready.set()
            page.page.wait_for_function(
                "(document.querySelector('#generate')?.textContent || '').trim() === "
                + json.dumps(words["generate.button"]),
                timeout=TIMEOUT_MS,
            )
            assert button.is_enabled()
            page.set_inputs(prompt="ab", length=10, seed="1")
            page.generate()
            page.wait_finished()
            assert len(page.text("greedy")) == 10 and page.errors == []
    finally:
        demo.close()
