"""What the tests share besides fixtures: small texts made here (never copied corpora), tiny seeded models,
independent oracles (a plain argmax loop, the RNN recurrence in numpy), the CLI in a subprocess, and the
app built and served in-process.

Test modules import these as ``from tests.helpers import ...`` (one spelling: conftest is pytest's, and
no test module imports another; ``tests/test_test_imports.py`` checks). Fixtures live in conftest.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from chargen.model import CharRNN, ModelConfig

ROOT = Path(__file__).resolve().parents[1]


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
    embedding: int = 8,
    scale: float = 1.0,
    unit: str = "char",
) -> CharRNN:
    """A small randomly initialised model in eval mode, the same for the same seed (the one factory).

    ``vocab`` is a string of characters (``unit="char"``) or a list of tokens (``unit="word"``:
    :func:`tiny_word_model` makes one). ``scale`` multiplies every weight: 3 puts the logits far
    from uniform, so argmaxes have no near-ties.
    """
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab=sorted(set(vocab)) if unit == "char" else list(vocab),
        unit=unit,
        cell=cell,
        embedding_size=embedding,
        hidden_size=hidden,
        num_layers=layers,
        dropout=dropout,
    )
    model = CharRNN(config).eval()
    if scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(scale)
    return model


def tiny_word_model(
    cell: str = "lstm",
    text: str | None = None,
    vocab_size: int = 40,
    hidden: int = 16,
    layers: int = 2,
    seed: int = 0,
    embedding: int = 8,
    scale: float = 1.0,
) -> CharRNN:
    """A small randomly initialised word model (``unit="word"``) over ``text``'s word vocabulary
    (default :func:`make_text`: its characters plus its most frequent words, ``vocab_size`` tokens in all)."""
    from chargen.vocab import Vocab

    vocab = Vocab.from_text(make_text() if text is None else text, "word", vocab_size)
    return tiny_model(cell, vocab.to_list(), hidden, layers, 0.0, seed, embedding, scale, unit="word")


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


@dataclass
class BuiltApp:
    """The app as a test holds it: ``app.py`` (imported; that does no work), a page built from loaded
    models by ``app.build_demo``, and the same models' handlers to call directly."""

    module: ModuleType
    demo: Any
    handlers: Any
    models: dict[str, CharRNN]
    notices: list[str]

    def launch(self) -> str:
        """Serve the page in-process on a free 127.0.0.1 port; return its URL."""
        return launch_in_process(self.demo, **self.module.launch_options())


def launch_in_process(demo: Any, **options: Any) -> str:
    """``demo.launch`` on a free 127.0.0.1 port without blocking; return its URL.

    ``_frontend=False`` skips gradio's self-check (one HEAD request to its own URL with a 3 s
    timeout, whose first timeout raises "localhost is not accessible"): on a loaded machine that
    check failed whole test modules at setup. The tests reach the page themselves anyway.
    """
    demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        server_port=free_port(),
        _frontend=False,
        **options,
    )
    return demo.local_url


def build_app(models: Any = None, notices: list[str] | None = None) -> BuiltApp:
    """``app.build_demo`` over ``models`` (short name -> model), or over the bundled models loaded as
    ``python app.py`` loads them when ``models`` is None."""
    from chargen.app import demo as module

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if models is None:
        offered, loaded_notices = module.load_app_models(None)
        notices = loaded_notices if notices is None else notices
    else:
        offered = module.offered_models(models)
    demo = module.build_demo(offered, notices or [])
    return BuiltApp(
        module=module,
        demo=demo,
        handlers=module.Handlers(offered),
        models={m.name: m.model for m in offered},
        notices=list(notices or []),
    )


def argmax_loop(model: CharRNN, prompt: str, length: int) -> str:
    """The lesson's greedy loop: the model's own forward at batch 1, one call per character."""
    ids = model.vocab.encode(prompt)
    with torch.inference_mode():
        logits, state = model(torch.tensor([ids]), None)
        out = []
        for _ in range(length):
            next_id = int(logits[0, -1].argmax())
            out.append(next_id)
            logits, state = model(torch.tensor([[next_id]]), state)
    return model.vocab.decode(out)


def pieces_of(text: str, steps: list[int]) -> list[str]:
    """``text`` cut into what each generation step wrote, from the characters each step wrote
    (``Comparison.greedy_steps`` / ``sampled_steps`` of a word model)."""
    out, start = [], 0
    for n in steps:
        out.append(text[start : start + n])
        start += n
    return out


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def recurrence(model: CharRNN, text: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Hidden and cell states of every layer after each character, from the textbook equations in numpy."""
    rnn = model.rnn
    size, layers = rnn.hidden_size, rnn.num_layers
    weights = {name: p.detach().double().numpy() for name, p in rnn.named_parameters()}
    x_seq = model.embedding.weight.detach().double().numpy()[model.vocab.encode(text)]  # (T, E)
    hiddens, cells = [], []
    for layer in range(layers):
        w_ih, w_hh = weights[f"weight_ih_l{layer}"], weights[f"weight_hh_l{layer}"]
        b_ih, b_hh = weights[f"bias_ih_l{layer}"], weights[f"bias_hh_l{layer}"]
        h, c = np.zeros(size), np.zeros(size)
        h_out, c_out = [], []
        for x in x_seq:
            if model.cell == "lstm":
                i, f, g, o = np.split(w_ih @ x + b_ih + w_hh @ h + b_hh, 4)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            elif model.cell == "gru":
                r_i, z_i, n_i = np.split(w_ih @ x + b_ih, 3)
                r_h, z_h, n_h = np.split(w_hh @ h + b_hh, 3)
                r, z = _sigmoid(r_i + r_h), _sigmoid(z_i + z_h)
                n = np.tanh(n_i + r * n_h)
                h = (1 - z) * n + z * h
            else:
                h = np.tanh(w_ih @ x + b_ih + w_hh @ h + b_hh)
            h_out.append(h)
            c_out.append(c)
        hiddens.append(np.array(h_out))
        cells.append(np.array(c_out))
        x_seq = np.array(h_out)
    hidden = np.stack(hiddens, axis=1)  # (T, layers, H)
    return hidden, np.stack(cells, axis=1) if model.cell == "lstm" else None


def load_benchmark(file_name: str) -> ModuleType:
    """A script of ``benchmarks/`` (``"load_test"``) imported as a module, loaded once per process."""
    import importlib.util

    name = f"benchmarks_{file_name}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{file_name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def mcp_call(url: str, work: Any, timeout: float = 120) -> Any:
    """``await work(session)`` in an MCP client session over streamable HTTP at ``url``'s /gradio_api/mcp/."""
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def session_call() -> Any:
        async with streamablehttp_client(f"{url}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(asyncio.wait_for(session_call(), timeout=timeout))
