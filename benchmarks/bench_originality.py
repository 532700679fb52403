"""How long the originality meter takes for one finished text: the search now against the one it replaced.

``/generate`` measures both finished texts against the model's training-text index on every request
(issue 26), so its cost is paid by every visitor. This times :func:`chargen.inference.originality.originality`
on texts the model itself generated (greedy and sampled at T = 0.8 for a few prompts), beside the baseline
measured in the same run: the earlier search, one binary search per extended piece through the index's
public ``find`` (reimplemented here; same answers, checked). Run it on one quiet core::

    taskset -c 0 .venv/bin/python benchmarks/bench_originality.py [--model checkpoints/shakespeare]
        [--length 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chargen.hub import load_models  # noqa: E402
from chargen.inference.generate import compare  # noqa: E402
from chargen.inference.originality import TrainingTextIndex, find_index, originality  # noqa: E402

PROMPTS = ("ROMEO:\nWhat light", "The king is", "Once upon a time", "First Citizen:\n")


def baseline_lengths(index: TrainingTextIndex, generated: str) -> list[int]:
    """The earlier matching statistics: extend each position's piece one character at a time, a search each."""
    lengths, length = [], 0
    for i in range(len(generated)):
        length = max(length - 1, 0)
        while i + length < len(generated) and index.find(generated[i : i + length + 1]) >= 0:
            length += 1
        lengths.append(length)
    return lengths


def per_text_ms(run, texts: list[str], repeats: int) -> float:
    """The median over ``repeats`` rounds of one text's CPU time in milliseconds."""
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        for text in texts:
            run(text)
        rounds.append((time.process_time() - started) / len(texts) * 1000)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_model = str(ROOT / "checkpoints" / "shakespeare")
    parser.add_argument("--model", default=default_model, help="a model folder with an index")
    parser.add_argument("--length", type=int, default=300, help="characters per generated text (default 300)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    index = find_index(args.model)
    if index is None:
        sys.exit(f"{args.model} has no originality index")
    model = next(iter(load_models([args.model]).models.values()))
    texts = []
    for prompt in PROMPTS:
        comparison = compare(model, prompt, args.length, temperature=0.8, seed=0)
        texts += [comparison.greedy, comparison.sampled]
    for text in texts:  # the same answers, and the index's inverse made before timing
        assert [length for length, _ in index.matching_statistics(text)] == baseline_lengths(index, text)
    now = per_text_ms(lambda text: originality(text, index), texts, args.repeats)
    before = per_text_ms(lambda text: baseline_lengths(index, text), texts, args.repeats)
    print(f"{len(texts)} texts of {args.length} characters, {len(index):,} training characters; CPU ms per text:")
    print(f"  baseline (a search per extended piece)   {before:7.2f}")
    print(f"  originality() now                        {now:7.2f}   ({before / now:.1f}x faster)")


if __name__ == "__main__":
    main()
