"""Generation latency while a visitor trains: the load test's burst with and without a Train-tab run.

Starts ``python app.py`` on a free 127.0.0.1 port, runs ``benchmarks/load_test.py --url`` (N users
generating at once) on the quiet app, then again while one client trains through ``/train`` (200k
characters of Tiny Shakespeare or ``--text``, a GRU, small), then once more quiet, and prints the
p95 latencies side by side with their ratio to the quiet runs' mean. The issue's goal: under twice
the quiet p95 while one visitor trains::

    taskset -c 0,1 .venv/bin/python benchmarks/train_while_serving.py [--users 20] [--chars 300]

Pin the app, the trainer and the load generator to the same cores (the app inherits the pinning).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "train.txt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def burst(url: str, users: int, chars: int) -> dict:
    """One load-test burst against ``url``; its JSON report."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load_test.py"), "--url", url, "--users", str(users)]
        + ["--chars", str(chars), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"load_test printed no report: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--chars", type=int, default=300)
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="the training text (first 200k characters)")
    args = parser.parse_args(argv)
    text = args.text.read_text(encoding="utf-8")[:200_000]

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    env.update({"CHARGEN_TRAIN_MAX_SECONDS": "600", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(900):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(3)  # the warm-up after the page answers
        from gradio_client import Client

        runs = [("quiet", burst(url, args.users, args.chars))]
        trainer = Client(url, verbose=False)
        job = trainer.submit(text, "gru", 600, "small", api_name="/train")
        started = threading.Event()
        progress: list[dict] = []

        def watch() -> None:
            for update in job:
                progress.append(update[0])
                if update[0].get("step", 0) > 0:
                    started.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        if not started.wait(300):
            raise RuntimeError("the training never started")
        step_before = max(p.get("step", 0) for p in progress)
        runs.append(("while training", burst(url, args.users, args.chars)))
        step_after = max(p.get("step", 0) for p in progress)
        trainer.predict(api_name="/stop_training")
        final = job.result()[0]
        runs.append(("quiet again", burst(url, args.users, args.chars)))
    finally:
        app.terminate()
        app.wait(30)

    quiet = [r["latency_p95"] for label, r in runs if label != "while training"]
    baseline = sum(quiet) / len(quiet)
    print(f"{args.users} users x {args.chars} characters; training: gru small on {len(text):,} characters")
    print(f"{'run':<16}{'served':>8}{'errors':>8}{'p50 s':>8}{'p95 s':>8}{'p95 / quiet':>13}")
    for label, r in runs:
        print(
            f"{label:<16}{r['served']:>8}{r['errors']:>8}{r['latency_p50']:>8.2f}{r['latency_p95']:>8.2f}"
            f"{r['latency_p95'] / baseline:>13.2f}"
        )
    print(f"training went from step {step_before} to {step_after} during the burst; stopped at {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
