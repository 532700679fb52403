"""The static page in Chromium: built by ``deploy --static --dry-run``'s builder, served by ``http.server`` on
127.0.0.1 with every other address blocked, generating in the browser with onnxruntime-web.

The oracle is the library: the page's greedy text must equal ``chargen.compare(..., precision="fp16")``'s
(the precision the page's weights ship in), and its JavaScript tokeniser and loop finder must agree with
``chargen.vocab.split_tokens`` and ``chargen.find_loop`` on awkward text.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from chargen.checkpoint import save_checkpoint
from chargen.inference.generate import compare
from chargen.inference.loops import find_loop
from chargen.vocab import split_tokens
from tests.browser_page import CHROMIUM, CHROMIUM_ARGS, in_ci
from tests.helpers import ROOT, tiny_model, tiny_word_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_MS = 120_000
LENGTH = 300

if not (ROOT / "node_modules" / "onnxruntime-web").is_dir() and not in_ci():
    pytest.skip("onnxruntime-web is not installed: run `npm ci` (the static page ships it)", allow_module_level=True)

MODELS = {
    "tiny-chars": tiny_model("gru", vocab="abcdefgh \nABC:", hidden=32, seed=5, scale=2.0),
    "tiny-words": tiny_word_model("lstm", hidden=32, seed=6, scale=2.0),
}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from chargen.hosting.static import build_static_site

    base = tmp_path_factory.mktemp("static")
    folders = []
    for name, model in MODELS.items():
        save_checkpoint(model, base / name)
        folders.append(str(base / name))
    build_static_site(folders, base / "site", log=lambda line: None)
    return base / "site"


@pytest.fixture(scope="module")
def url(site: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page(url: str):
    assert CHROMIUM.exists(), f"CI=true but Chromium is missing at {CHROMIUM}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            outside: list[str] = []

            def only_local(route):
                if route.request.url.startswith("http://127.0.0.1:"):  # this module's servers
                    return route.continue_()
                outside.append(route.request.url)
                return route.abort()

            context.route("**/*", only_local)  # no other network: a CDN fetch would fail the page
            tab = context.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(url, timeout=TIMEOUT_MS)
            tab.wait_for_function("window.chargen && window.chargen.state.ready", timeout=TIMEOUT_MS)
            yield tab
            assert not errors, errors
            assert not [u for u in outside if not u.endswith("/favicon.ico")], outside
        finally:
            browser.close()


def generate(tab, prompt: str, temperature: float, length: int = LENGTH, seed: str = "", model: str = "") -> None:
    if model:
        tab.locator("#model select").select_option(model)
    tab.locator("#prompt textarea").fill(prompt)
    tab.locator("#temperature input[type=number]").fill(str(temperature))
    tab.locator("#length input[type=number]").fill(str(length))
    tab.locator("#seed input").fill(seed)
    tab.locator("#generate").click()
    tab.wait_for_function("window.chargen.state.finished === true", timeout=TIMEOUT_MS)
    assert tab.evaluate("window.chargen.state.error") == ""


def shown(tab, which: str) -> str:
    return tab.locator(f"#{which} .cg-text").evaluate("node => node.textContent")


@pytest.mark.parametrize(("name", "prompt"), [("tiny-chars", "ABC: bad"), ("tiny-words", "The cat ")])
def test_greedy_text_equals_compare_at_the_shipped_precision(page, site, name, prompt):
    config = json.loads((site / "site.json").read_text(encoding="utf-8"))
    assert [m["precision"] for m in config["models"]] == ["fp16", "fp16"]
    generate(page, prompt, 0, model=name)
    expected = compare(MODELS[name], prompt, LENGTH, temperature=0.0, seed=0, precision="fp16")
    assert page.evaluate("window.chargen.text('greedy')") == expected.greedy
    assert shown(page, "greedy") == expected.greedy  # what the pane holds, not only the page's state
    # At temperature 0 the sampled row is greedy too.
    assert shown(page, "sampled") == expected.greedy
    loop = expected.loop
    assert page.locator("#loop_line").inner_text() == (loop.describe() if loop else "no loop in the greedy text")
    if loop:
        assert page.locator("#greedy .cg-text .loop").count() == LENGTH - loop.start


def test_the_model_picker_lists_every_exported_model(page):
    options = page.locator("#model select option").evaluate_all("nodes => nodes.map(n => n.value)")
    assert options == list(MODELS)
    assert page.locator("#model").is_visible()


def test_a_seed_gives_the_same_sampled_text_again(page):
    generate(page, "ABC:", 0.9, length=120, seed="4242", model="tiny-chars")
    first = page.evaluate("window.chargen.text('sampled')")
    assert page.locator("#seed_line").inner_text() == "seed 4242"
    generate(page, "ABC:", 0.9, length=120, seed="", model="tiny-chars")  # a fresh seed
    generate(page, "ABC:", 0.9, length=120, seed="4242", model="tiny-chars")
    assert page.evaluate("window.chargen.text('sampled')") == first
    assert len(first) == 120 and set(first) <= set(MODELS["tiny-chars"].vocab.tokens)


AWKWARD = [
    "",
    "don't stop—it’s 42 o'clock_now, naïve café",
    "ΣΩ αβγ 中文字 ²³ e\u0301 \ufeff x\x1cy\x1f \u3000 \t\n\r\n end.",
    "tabs\t\tand  spaces \u2028 line\u2029 sep \u00a0 nbsp",
    "emoji 🙂🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters",
]


def test_the_page_tokenises_and_finds_loops_as_chargen_does(page):
    module = "import('./generation.js')"
    for text in AWKWARD:
        got = page.evaluate(f"async (text) => (await {module}).splitTokens(text)", text)
        assert got == split_tokens(text), text
    for text in ["abcabcabcabc", "xyzhello hello hello hello hel", "no loop here", "aaaaaaaaa", "🙂a🙂a🙂a🙂a🙂a"]:
        got = page.evaluate(f"async (text) => (await {module}).findLoop(Array.from(text))", text)
        loop = find_loop(text)
        expected = None if loop is None else {"start": loop.start, "period": loop.period, "unit": loop.unit}
        assert (got and {k: got[k] for k in ("start", "period", "unit")}) == expected, text


@pytest.fixture(scope="module")
def bundled_url(tmp_path_factory):
    """The page with the bundled Shakespeare character and word models, as `deploy --static --models ...` builds it."""
    from chargen.hosting.static import build_static_site

    folder = tmp_path_factory.mktemp("bundled") / "site"
    models = [str(ROOT / "checkpoints" / "shakespeare"), str(ROOT / "checkpoints" / "shakespeare-word")]
    build_static_site(models, folder, log=lambda line: None)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_bundled_models_give_compares_greedy_text_for_romeo(page, bundled_url):
    from chargen.hub import load_model

    tab = page.context.new_page()
    tab.goto(bundled_url, timeout=TIMEOUT_MS)
    tab.wait_for_function("window.chargen && window.chargen.state.ready", timeout=TIMEOUT_MS)
    for name in ("shakespeare", "shakespeare-word"):
        generate(tab, "ROMEO:", 0, length=200, model=name)
        model = load_model(str(ROOT / "checkpoints" / name))
        expected = compare(model, "ROMEO:", 200, temperature=0.0, seed=0, precision="fp16").greedy
        assert tab.evaluate("window.chargen.text('greedy')") == expected, name
    tab.close()
