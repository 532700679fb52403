"""How fast is ``chargen.compare``, against the lesson's two per-character loops on the same model?

    .venv/bin/python benchmarks/bench_generate.py                     # bundled Shakespeare LSTM
    .venv/bin/python benchmarks/bench_generate.py --model checkpoints/python --no-loss

The lesson generates greedily, then sampled, each with a batch-1 loop calling the model once
per character. ``compare`` primes once and steps both rows as one batch of 2 on the fast
stepper. Both run here, in the same process, on the same model; both times and their ratio are
printed, then each precision's step rate and its held-out loss on the end of the training text
(a reduced precision is kept only if it moves the loss by less than 0.01 nats). Machines shared
with other work give noisy timings: each compare() figure is the best of ``--repeats`` runs,
and step rates are interleaved medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chargen.checkpoint import load_checkpoint  # noqa: E402
from chargen.inference.engine import PRECISIONS, resolve_precision, start_stepper  # noqa: E402
from chargen.inference.generate import compare  # noqa: E402
from chargen.model import CharRNN, ModelConfig  # noqa: E402
from chargen.training.data import parallel_streams  # noqa: E402

DEFAULT_MODEL = ROOT / "checkpoints" / "shakespeare"
DEFAULT_TEXT = ROOT / "runs" / "train.txt"
"""Tiny Shakespeare's first 90% (nanoGPT's train.txt), where the README's Evaluate section puts it."""


def lesson_loops(model: CharRNN, prompt: str, length: int, temperature: float, seed: int) -> tuple[str, str]:
    """The lesson's generation: a greedy loop, then a sampled loop, batch 1, one forward per character."""
    generator = torch.Generator().manual_seed(seed)
    texts = []
    with torch.no_grad():
        for greedy in (True, False):
            logits, state = model(torch.tensor([model.vocab.encode(prompt)]), None)
            out = []
            for _ in range(length):
                last = logits[0, -1]
                if greedy:
                    next_id = int(torch.argmax(last))
                else:
                    next_id = int(torch.multinomial(torch.softmax(last / temperature, -1), 1, generator=generator))
                out.append(next_id)
                logits, state = model(torch.tensor([[next_id]]), state)
            texts.append(model.vocab.decode(out))
    return texts[0], texts[1]


def best_time(run: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``run()`` (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def steps_per_second(step: Callable[[], object], steps: int = 300) -> float:
    """Median rate of three runs of ``steps`` calls to ``step()``."""
    for _ in range(20):
        step()
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def held_out_nll(model: CharRNN, precision: str, ids: torch.Tensor, streams: int) -> float:
    """Mean NLL per character of ``ids`` through ``precision``'s stepper, teacher-forced.

    The text is cut into ``streams`` contiguous rows stepped side by side (every precision is
    row-independent, so this is the network that generates), each row primed with a line break.
    """
    rows = parallel_streams(ids, streams)  # (S, L)
    total = 0.0
    with torch.inference_mode():
        stepper = start_stepper(model, model.vocab.encode("\n"), streams, precision)
        for t in range(rows.shape[1] - 1):
            logits = stepper.step(rows[:, t])  # (S, V)
            total += float(torch.nn.functional.cross_entropy(logits, rows[:, t + 1], reduction="sum"))
    return total / (streams * (rows.shape[1] - 1))


def load(path: Path) -> tuple[CharRNN, str]:
    if (path / "model.safetensors").exists():
        return load_checkpoint(path), str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    torch.manual_seed(0)
    vocab = [chr(c) for c in range(32, 97)]
    model = CharRNN(ModelConfig(vocab=vocab, cell="lstm", embedding_size=64, hidden_size=512, num_layers=2)).eval()
    return model, "a freshly initialised LSTM 2x512 (no checkpoint found)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="checkpoint folder")
    parser.add_argument("--prompt", default="ROMEO:\n")
    parser.add_argument("--length", type=int, default=1000, help="characters per continuation (default 1000)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; see FACTS.md)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure, best kept (default 3)")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="text whose end is the held-out part")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="held-out fraction at its end (default 0.1)")
    parser.add_argument("--streams", type=int, default=64, help="parallel rows when scoring the held-out text")
    parser.add_argument("--no-loss", action="store_true", help="skip the held-out loss comparison")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, name = load(args.model)
    params = model.num_parameters()
    print(f"model: {name} ({model.cell} {model.config.num_layers}x{model.config.hidden_size}, {params:,} parameters)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.length} + {args.length} characters")

    for precision in PRECISIONS[2:]:
        compare(model, args.prompt, 20, seed=0, precision=precision)  # pack the weights once, as an app would
    seed = 1
    lesson = best_time(lambda: lesson_loops(model, args.prompt, args.length, args.temperature, seed), 1)
    timings = {}
    for precision in ("auto", "fp16", "fp32"):
        timings[precision] = best_time(
            lambda p=precision: compare(
                model, args.prompt, args.length, temperature=args.temperature, seed=seed, precision=p
            ),
            args.repeats,
        )
    with torch.backends.mkldnn.flags(enabled=False):
        lesson_no_onednn = best_time(lambda: lesson_loops(model, args.prompt, args.length, args.temperature, seed), 1)

    auto = resolve_precision(model)
    print()
    rows = {
        "lesson's two batch-1 loops (default settings)": lesson,
        "lesson's loops with oneDNN off (a fairer rival)": lesson_no_onednn,
        f"compare(), auto = {auto} stepper": timings["auto"],
        "compare(), fp16 stepper": timings["fp16"],
        "compare(), fp32 stepper": timings["fp32"],
    }
    for label, seconds in rows.items():
        print(f"{label:50s} {seconds:7.3f} s")
    print(
        f"speed-up of compare() over the lesson's loops: {lesson / timings['auto']:.1f}x "
        f"(over the oneDNN-off loops: {lesson_no_onednn / timings['auto']:.1f}x)"
    )

    # Per-step rates at batch 2, interleaved so that changing load hits each alike.
    ids = torch.tensor([1, 2])
    with torch.inference_mode():
        steps = {p: start_stepper(model, [1], 2, p).step for p in ("int8", "fp16", "fp32", "exact")}
        rates = {p: [] for p in steps}
        for _ in range(5):
            for precision, step in steps.items():
                rates[precision].append(steps_per_second(lambda s=step: s(ids), steps=40))
    print("steps/s at batch 2 (median): " + ", ".join(f"{p} {statistics.median(r):,.0f}" for p, r in rates.items()))

    if args.no_loss or not args.text.exists():
        print("held-out loss: skipped" + ("" if args.no_loss else f" ({args.text} not found)"))
        return
    text = args.text.read_text(encoding="utf-8")
    held_out = text[len(text) - int(len(text) * args.val_fraction) :]
    ids_held_out = torch.tensor(model.vocab.encode(held_out))
    print()
    print(f"held-out loss on the last {len(held_out):,} characters of {args.text}, teacher-forced")
    print(f"through each network's stepper ({args.streams} streams, each primed with a line break):")
    losses = {p: held_out_nll(model, p, ids_held_out, args.streams) for p in ("exact", "fp32", "fp16", "int8")}
    per = "token" if model.unit == "word" else "char"  # a word model's ids are tokens: the bar is per token
    for precision, loss in losses.items():
        delta = loss - losses["exact"]
        verdict = "" if precision == "exact" else ("  (< 0.01: kept)" if abs(delta) < 0.01 else "  (>= 0.01: too far)")
        print(f"  {precision:6s} {loss:.6f} nats/{per}  delta {delta:+.6f}{verdict}")


if __name__ == "__main__":
    main()
