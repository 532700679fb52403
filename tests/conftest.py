"""Shared fixtures: small texts made here (never copied corpora) and tiny seeded models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from chargen.model import CharRNN, ModelConfig

ROOT = Path(__file__).resolve().parents[1]

# Keep the tests' own processes off the network and out of the user's caches.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def make_text(seed: int = 0, words: int = 400) -> str:
    """A small English-like text with a little structure, built from a seeded word list."""
    vocabulary = "the cat sat on a mat and dog ran to big red hat with sun".split()
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(vocabulary), (words,), generator=gen).tolist()
    lines, line = [], []
    for i, p in enumerate(picks):
        line.append(vocabulary[p])
        if i % 9 == 8:
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    return "\n".join(lines) + "\n"


def tiny_model(
    cell: str = "lstm",
    vocab: str = "abcdefgh \n",
    hidden: int = 16,
    layers: int = 2,
    dropout: float = 0.0,
    seed: int = 0,
) -> CharRNN:
    """A small randomly initialised model, the same for the same seed."""
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab=sorted(set(vocab)), cell=cell, embedding_size=8, hidden_size=hidden, num_layers=layers, dropout=dropout
    )
    return CharRNN(config).eval()


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    """A ~10 kB text file in tmp_path."""
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(words=2000), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300):
    """Run ``python -m chargen ARGS`` in a subprocess and return the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "chargen", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=timeout,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """``app.py`` imported once with the bundled models; gradio's files go to a tmp dir."""
    import importlib

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ.pop("CHARGEN_MODELS", None)
    threads = torch.get_num_threads()
    try:
        yield importlib.import_module("app")  # sets torch to the app's one thread per process
    finally:
        torch.set_num_threads(threads)  # the other test modules run as they would alone


@pytest.fixture(scope="module")
def url(app):
    """The app served in-process on a free 127.0.0.1 port."""
    app.demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port())
    try:
        yield app.demo.local_url
    finally:
        app.demo.close()


@pytest.fixture(scope="module")
def client(url: str):
    """A gradio_client connected to the served app."""
    from gradio_client import Client

    return Client(url, verbose=False)
