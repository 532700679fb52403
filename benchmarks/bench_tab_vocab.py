"""The Train tab's word vocabulary size: steps made and held-out nats per character in the same budget.

Trains the tab's small preset (as ``/train`` does: ``chargen.app.session.stream.train_config``) with
``--unit word`` at each vocabulary size in turn, for the same wall-clock budget, one torch thread,
and prints the steps it made, its CPU seconds per step and its best validation figure in nats per
character (the per-token loss divided by the validation text's characters per token), beside a
character model trained the same way as the baseline of the same run. Run it on one quiet core::

    taskset -c 0 .venv/bin/python benchmarks/bench_tab_vocab.py [--text FILE] [--chars 200000]
        [--seconds 150] [--sizes 300,1000,4000] [--cell gru]

The default text is the first 200,000 characters of Tiny Shakespeare (../shared/data/tinyshakespeare).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chargen.app.session.checks import parse_train_request  # noqa: E402
from chargen.app.session.stream import train_config  # noqa: E402
from chargen.training.train import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=ROOT.parent / "shared" / "data" / "tinyshakespeare" / "train.txt")
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--sizes", default="300,1000,4000")
    parser.add_argument("--cell", default="gru")
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = args.text.read_text(encoding="utf-8")[: args.chars]
    runs = [("char", None)] + [("word", int(size)) for size in args.sizes.split(",")]
    print(f"{len(text):,} characters of {args.text.name}, {args.cell} small, {args.seconds:g} s each, one thread")
    with tempfile.TemporaryDirectory(prefix="bench-tab-vocab-") as work:
        corpus = Path(work) / "corpus.txt"
        corpus.write_text(text, encoding="utf-8")
        for i, (unit, size) in enumerate(runs):
            request = parse_train_request(text, args.cell, args.seconds, "small", args.seconds, 1, unit, size)
            config = train_config(request, corpus, Path(work) / f"run{i}")
            cpu = time.process_time()
            result = train(config, progress_bar=False)
            cpu = time.process_time() - cpu
            name = "characters" if unit == "char" else f"words, {size:,} tokens"
            print(
                f"{name:>22}: {result.step:5d} steps, {cpu / max(1, result.step):.3f} CPU s/step, "
                f"best validation {result.best_val_loss / result.chars_per_token:.3f} nats/char "
                f"({result.chars_per_token:.2f} characters per token)",
                flush=True,
            )


if __name__ == "__main__":
    main()
