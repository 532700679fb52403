"""Peak memory of `chargen train` against corpus size (issue 16: corpora bigger than memory).

For each size it generates a corpus (random words, a few multi-byte characters), then measures with
``/usr/bin/time -f %M`` (peak resident memory, KiB) a short training run of a small GRU:

* ``train``: a fresh run (the corpus is encoded once, in chunks, into memory-mapped ids);
* ``resume``: the same run resumed for a few more steps (the cached ids are reused: no encoding);
* ``old``: for comparison, what the code before memory-mapped ids did first: ``read_text`` plus
  ``Corpus.from_text`` (the corpus as one string and an int64 tensor); only for sizes up to
  ``--old-max-mb`` (a 1 GB corpus needs about 16 GB there).

Run on one core as the team does, e.g.::

    taskset -c 0 .venv/bin/python benchmarks/bench_corpus_memory.py            # 5 MB and 50 MB
    taskset -c 0 .venv/bin/python benchmarks/bench_corpus_memory.py --gigabyte # adds 1 GB (1024 MB)

The issue's target: a 1 GB corpus peaks at most 1.5 GB; peaks must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"
WORDS = (
    "the of and to in is that it was for on are as with his they at be this from have or by one had not but "
    "what all were when we there can an your which their said if do will each about how up out them then "
    "café naïve façade — déjà vu “quoted” ünïcödé 🙂 中文"
).split()
TRAIN_ARGS = [
    "--cell", "gru", "--hidden", "64", "--layers", "1", "--embedding", "16", "--dropout", "0",
    "--seq-len", "64", "--batch-size", "16", "--eval-every", "10", "--eval-chars", "20000", "--quiet",
]  # fmt: skip


def make_corpus(path: Path, megabytes: float, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of random words (UTF-8) to ``path``, a block at a time; return its bytes."""
    rng = random.Random(seed)
    block = " ".join(rng.choice(WORDS) + ("\n" if rng.random() < 0.08 else "") for _ in range(200_000))
    data = block.encode("utf-8")
    target = int(megabytes * 1_000_000)
    written = 0
    with open(path, "wb") as fh:
        while written < target:
            start = rng.randrange(len(data) // 2)
            piece = data[start : start + min(len(data) - start, target - written)]
            piece = piece.decode("utf-8", errors="ignore").encode("utf-8")  # whole characters only
            fh.write(piece)
            written += len(piece)
    return written


def peak_kib(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float, str]:
    """Run ``command`` under ``/usr/bin/time -f %M``: its peak resident memory (KiB), seconds, and stdout."""
    started = time.perf_counter()
    done = subprocess.run([TIME, "-f", "%M", *command], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return int(done.stderr.strip().splitlines()[-1]), seconds, done.stdout


def main(argv: list[str] | None = None) -> int:
    """Print a table of peak memory per corpus size and run kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[5, 50], help="corpus sizes in MB (default 5 50)")
    parser.add_argument("--gigabyte", action="store_true", help="also a 1 GB (1024 MB) corpus: the issue's target")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the fresh run (default 20)")
    parser.add_argument("--old-max-mb", type=float, default=50, help="measure the old in-memory path up to this size")
    parser.add_argument("--workdir", type=Path, help="where corpora and runs go (default: a temp folder, removed)")
    args = parser.parse_args(argv)
    if not Path(TIME).exists():
        parser.error(f"{TIME} is needed (GNU time)")
    sizes = list(args.sizes_mb) + ([1024.0] if args.gigabyte else [])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chargen-bench-mem-"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = {k: v for k, v in os.environ.items() if k != "CHARGEN_CORPUS_CACHE"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs visible, affinity {sorted(os.sched_getaffinity(0))}")
    print(f"{'corpus MB':>10} {'run':>7} {'peak MB':>8} {'seconds':>8}")
    try:
        for size in sizes:
            corpus = workdir / f"corpus-{size:g}mb.txt"
            nbytes = make_corpus(corpus, size)
            out = workdir / f"run-{size:g}mb"
            shutil.rmtree(out, ignore_errors=True)
            label = f"{nbytes / 1e6:,.0f}"
            train = [python, "-m", "chargen", "train", str(corpus), "--out", str(out), *TRAIN_ARGS]
            kib, seconds, _ = peak_kib([*train, "--max-steps", str(args.steps)], env)
            print(f"{label:>10} {'train':>7} {kib / 1024:8.0f} {seconds:8.1f}", flush=True)
            kib, seconds, _ = peak_kib([*train, "--resume", "--max-steps", str(args.steps + 10)], env)
            print(f"{label:>10} {'resume':>7} {kib / 1024:8.0f} {seconds:8.1f}", flush=True)
            if size <= args.old_max_mb:
                old = (
                    "import sys; from chargen.training.data import Corpus, read_text; "
                    "Corpus.from_text(read_text(sys.argv[1]), 0.05, min_chars=65)"
                )
                kib, seconds, _ = peak_kib([python, "-c", old, str(corpus)], env)
                print(f"{label:>10} {'old':>7} {kib / 1024:8.0f} {seconds:8.1f}", flush=True)
            corpus.unlink()
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
