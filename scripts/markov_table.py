"""Measure issue 26's figures on the bundled model's held-out blocks: n-gram orders, a 600-step LSTM, dynamic eval.

Usage: python scripts/markov_table.py TRAIN_TXT OUT_DIR [--device cuda] [--lstm-steps 600]

Every model is trained on train.txt minus the 16 validation blocks (chargen's default split,
`--val-scheme blocks --val-fraction 0.05`, the bundled model's) and scored on those blocks.
Dynamic evaluation: the learning rate is chosen on blocks 1-8 (joined), measured on blocks 9-16.
Writes OUT_DIR/markov_table.json; docs/markov.md holds the results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from chargen.hub import load_model
from chargen.training.dynamic_eval import AdaptSettings, adapted_nll
from chargen.training.evaluate import nll_per_char
from chargen.training.train import TrainConfig, prepare


def chargen(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "chargen", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train_txt")
    parser.add_argument("out")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lstm-steps", type=int, default=600)
    parser.add_argument("--orders", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--model", default="checkpoints/shakespeare")
    parser.add_argument("--limit", type=int, help="score only this many characters of each block (a smoke test)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    # n-gram orders, side by side (each is one process on one core)
    runs = {}
    for order in args.orders.split(","):
        command = [sys.executable, "-m", "chargen", "train", args.train_txt, "--cell", "ngram", "--order", order]
        runs[order] = (
            time.monotonic(),
            subprocess.Popen(
                [*command, "--out", str(out / f"ngram{order}"), "--quiet"], stdout=subprocess.PIPE, text=True
            ),
        )
    lstm = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargen",
            "train",
            args.train_txt,
            "--cell",
            "lstm",
            "--max-steps",
            str(args.lstm_steps),
            "--max-minutes",
            "5",
            "--out",
            str(out / "lstm"),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for order, (start, proc) in runs.items():
        summary = json.loads(proc.communicate()[0].strip().splitlines()[-1])
        results[f"ngram{order}"] = {**summary, "wall_s": round(time.monotonic() - start, 1)}
        print(order, results[f"ngram{order}"], flush=True)
    # Dynamic evaluation of the bundled model
    config, corpus, _, _ = prepare(TrainConfig(args.train_txt, str(out / "split"), cell="ngram", order=1), False)
    vocab = corpus.vocab
    rows = corpus.val[:, : args.limit]  # (16, L)
    first = rows[:8].flatten()
    second = rows[8:].flatten()
    (out / "blocks_1-8.txt").write_text(vocab.decode(first.tolist()))
    (out / "blocks_9-16.txt").write_text(vocab.decode(second.tolist()))
    model = load_model(args.model).to(args.device)
    dyn: dict = {"blocks": list(rows.shape)}
    dyn["static_1-8"], _ = nll_per_char(model, first)
    dyn["static_9-16"], _ = nll_per_char(model, second)
    grid = {}
    for lr in (1e-5, 3e-5, 1e-4, 2e-4, 3e-4):
        for decay in (0.0, 0.002, 0.01):
            start = time.monotonic()
            grid[f"{lr:g}/{decay:g}"] = round(adapted_nll(model, first, AdaptSettings(lr=lr, decay=decay))[0], 5)
            print("lr", lr, "decay", decay, grid[f"{lr:g}/{decay:g}"], round(time.monotonic() - start, 1), flush=True)
    dyn["grid_on_1-8"] = grid
    best = min(grid, key=grid.get)
    lr, decay = (float(x) for x in best.split("/"))
    dyn["chosen"] = {"lr": lr, "decay": decay}
    dyn["adapted_9-16"], _ = adapted_nll(model, second, AdaptSettings(lr=lr, decay=decay))
    dyn["adapted_9-16_default_decay"], _ = adapted_nll(model, second, AdaptSettings(lr=lr))
    twice = torch_cat(rows[8], rows[8])
    n = rows.shape[1]
    static_both, c_both = nll_per_char(model, twice)
    static_first, c_first = nll_per_char(model, rows[8])
    adapted_both, _ = adapted_nll(model, twice, AdaptSettings(lr=lr, decay=decay))
    adapted_first, _ = adapted_nll(model, rows[8], AdaptSettings(lr=lr, decay=decay))
    dyn["read_twice_second_copy"] = {
        "chars": n,
        "static": (static_both * c_both - static_first * c_first) / (c_both - c_first),
        "adapted": (adapted_both * c_both - adapted_first * c_first) / (c_both - c_first),
    }
    results["dynamic_eval"] = dyn
    print(json.dumps(dyn), flush=True)
    summary = json.loads(lstm.communicate()[0].strip().splitlines()[-1])
    results["lstm"] = summary
    (out / "markov_table.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["lstm"]))


def torch_cat(a, b):
    import torch

    return torch.cat([a, b])


if __name__ == "__main__":
    main()
