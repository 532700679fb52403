"""How long each "Look inside" view takes for 2,000 characters on a bundled model, one torch thread.

Each view is timed as the API runs it (inputs checked, the chargen.inference.inside work, the JSON answer;
gradio's own overhead is not included), beside the Generate button's work (``compare``, 2,000
characters greedy and sampled) as the baseline measured in the same run. Then the cell finder's
best unit per property on the same text. Run it on one quiet core::

    taskset -c 0 .venv/bin/python benchmarks/bench_views.py [--model checkpoints/shakespeare]
        [--text FILE --offset N] [--repeats 3]

Without ``--text`` the text is 2,000 characters the model itself sampled (T = 0.8, seed 0).
Goal (issue 14): every view answers within 300 ms for 2,000 characters. Each line gives the wall
time and this process's CPU time (medians); ``x baseline`` compares CPU times.
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

from chargen.app import inside_views  # noqa: E402
from chargen.hub import load_model  # noqa: E402
from chargen.inference import inside  # noqa: E402
from chargen.inference.generate import compare  # noqa: E402

CHARS = 2000
TARGET_MS = 300.0


def timed(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """The median wall time and the median CPU time of this process for ``work()``, in milliseconds,
    after one untimed warm-up call. On a busy machine the CPU time is the steadier estimate of the
    wall time on a quiet core (one torch thread: the work never uses more than one core)."""
    work()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "checkpoints" / "shakespeare"))
    parser.add_argument("--text", help="read the text from this file instead of sampling it")
    parser.add_argument("--offset", type=int, default=0, help="where in --text the 2,000 characters start")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = load_model(args.model)
    name = Path(args.model).name
    models = {name: model}
    if args.text:
        raw = Path(args.text).read_text(encoding="utf-8")[args.offset :]
        text = "".join(ch for ch in raw if ch in model.vocab)[:CHARS]
        source = f"{args.text} from character {args.offset}"
    else:
        prompt = "".join(ch for ch in "First Citizen:\n" if ch in model.vocab) or model.vocab.chars[0]
        text = (prompt + compare(model, prompt, CHARS, temperature=0.8, seed=0).sampled)[:CHARS]
        source = "sampled by the model (T = 0.8, seed 0)"
    print(f"model {args.model}: {model.config.cell} {model.config.num_layers}x{model.config.hidden_size}")
    print(f"text: {len(text)} characters {source}; torch threads {torch.get_num_threads()}; median of {args.repeats}")
    prompt = "ROMEO:\n" if all(ch in model.vocab for ch in "ROMEO:\n") else "\n"

    def cells_uncached() -> object:
        inside_views._activations.cache_clear()
        return inside_views.cells_answer(models, text, name)

    def unit_colouring() -> object:
        return inside_views.unit_highlights(models, text, name, 0, "hidden", 0)

    views: list[tuple[str, Callable[[], object]]] = [
        ("baseline: Generate (compare, greedy + sampled)", lambda: compare(model, prompt, CHARS, seed=1)),
        ("sweep, 5 temperatures", lambda: inside_views.sweep_answer(models, prompt, CHARS, "0,.3,.6,1,1.5", 1, name)),
        (
            "sweep, 8 temperatures",
            lambda: inside_views.sweep_answer(models, prompt, CHARS, "0,.25,.5,.75,1,1.25,1.5,2", 1, name),
        ),
        ("samples, 4 at T = 0.8", lambda: inside_views.samples_answer(models, prompt, CHARS, 0.8, 4, 1, name)),
        ("expectations", lambda: inside_views.expectations_answer(models, text, name)),
        ("cells (activations + finder)", cells_uncached),
        ("colour by one unit (activations cached)", unit_colouring),
        ("beam search, width 4", lambda: inside_views.beam_answer(models, prompt, CHARS, 4, name)),
        ("beam search, width 16", lambda: inside_views.beam_answer(models, prompt, CHARS, 16, name)),
    ]
    print(
        f"\n{'view (2,000 characters)':<48}{'wall ms':>9}{'CPU ms':>9}{'x baseline':>12}  CPU within {TARGET_MS:.0f} ms"
    )
    baseline = None
    for label, work in views:
        wall, cpu = timed(work, args.repeats)
        baseline = baseline or cpu
        verdict = "yes" if cpu <= TARGET_MS else "no"
        print(f"{label:<48}{wall:>9.0f}{cpu:>9.0f}{cpu / baseline:>12.2f}  {verdict}")

    print("\nthe cell finder on this text: the best unit for each property")
    best: dict[str, inside.CellMatch] = {}
    for match in inside.find_cells(inside_views._activations(model, text), per_property=1):
        best.setdefault(match.property, match)
    for prop in inside.PROPERTIES:
        match = best.get(prop)
        if match is None:
            print(f"  {prop:<24} (constant over this text)")
        else:
            print(f"  {prop:<24} r = {match.r:+.3f}  layer {match.layer} {match.kind} unit {match.unit}")
    top = max(best.values(), key=lambda m: abs(m.r), default=None)
    if top is not None:
        reached = "reaches" if abs(top.r) >= 0.5 else "does not reach"
        print(f"best |r| = {abs(top.r):.3f} ({top.property}): {reached} 0.5")


if __name__ == "__main__":
    main()
