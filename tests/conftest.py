"""Shared fixtures, the test environment, and the ``slow`` mark that serving the app implies.

Plain helpers (texts, tiny models, oracles, building and serving the app) live in ``tests/helpers.py``;
test modules import them from there, never from this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.helpers import BuiltApp, build_app, make_text

# Keep the tests' own processes off the network and out of the user's caches.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

try:  # property tests: the same examples on every CI run (a failure there reproduces locally with CI=true)
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI", "").lower() == "true":
        _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a dev requirement
    pass


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    """A ~10 kB text file in tmp_path."""
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(words=2000), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """The app built from the bundled models, with the app's one torch thread while the module runs."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ.pop("CHARGEN_MODELS", None)
    threads = torch.get_num_threads()
    built = build_app()
    torch.set_num_threads(built.module.TORCH_THREADS)
    try:
        yield built
    finally:
        torch.set_num_threads(threads)  # the other test modules run as they would alone


@pytest.fixture(scope="module")
def url(app: BuiltApp):
    """The app served in-process on a free 127.0.0.1 port."""
    local_url = app.launch()
    try:
        yield local_url
    finally:
        app.demo.close()


@pytest.fixture(scope="module")
def client(url: str):
    """A gradio_client connected to the served app."""
    from gradio_client import Client

    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def browser():
    """Chromium (``/usr/bin/chromium``) driven by Playwright, for one test module. Without Chromium the
    test is skipped, saying so, except in CI (``CI=true``), where a missing browser is a failure."""
    from tests.browser_page import CHROMIUM, chromium, in_ci

    if not CHROMIUM.exists() and not in_ci():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); the browser test needs it")
    assert CHROMIUM.exists(), f"CI=true but Chromium is missing at {CHROMIUM}: .ci/run must install it"
    with chromium() as launched:
        yield launched


SERVER_FIXTURES = frozenset({"url", "client"})
"""The fixtures above that serve the app: every test using one (directly or through another fixture) is slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` each test that serves the app through :data:`SERVER_FIXTURES`, so that
    ``pytest -m "not slow and not browser"`` is the quick loop without a mark on each such test."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
