"""Start-up: ``python app.py`` against a bare ``gr.Blocks()`` app, started in the same run.

Each round starts both as subprocesses on free 127.0.0.1 ports, one after the other (their order
alternates from round to round, so a machine that gets busier or quieter during the run touches
both alike), and times from process start to the first HTTP 200 on ``/`` and on ``/config``. The
report gives each app's median and the ratio app / bare (issue 24's goal: at most 1.3)::

    .venv/bin/python benchmarks/bench_startup.py [--rounds 5] [--app-dir PATH] [--json]

``--app-dir`` starts another checkout's ``app.py`` (e.g. main's, for a baseline in the same run).
On a shared machine, pin it to the same cores as its baseline (``taskset -c 0,1 ...``: the apps
inherit the pinning) and say what else was running (``uptime``'s load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.02
"""How often each path is asked while the app starts: the resolution of the figures."""

BARE_APP = """
import gradio as gr

with gr.Blocks() as demo:
    gr.Textbox(label="Text")
demo.launch()
"""
"""The baseline: what gradio itself needs to answer (import, one component, launch)."""


@dataclass
class Start:
    """One start of one app: seconds from process start to its first HTTP 200 on each path."""

    app: str
    page_s: float
    config_s: float


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
            return response.status == 200
    except OSError:
        return False


def time_start(command: list[str], cwd: Path, name: str, timeout: float = 120.0) -> Start:
    """Start ``command`` (an app serving on ``GRADIO_SERVER_PORT``) and time its first 200s on ``/``
    and ``/config``; the app is stopped afterwards. Raises if it exits or times out first."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="chargen-startup-") as scratch:
        env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(Path(scratch) / "gradio"),
            "HF_HUB_OFFLINE": "1",
        }
        log = open(Path(scratch) / "log", "w")  # noqa: SIM115 - closed below, after the process
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        answered: dict[str, float] = {}
        try:
            while len(answered) < 2:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}: see {log.name}")
                for path in ("", "config"):
                    if path not in answered and _answers_200(base + path):
                        answered[path] = time.monotonic() - started
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"{name} did not answer / and /config within {timeout:.0f} s")
                time.sleep(POLL_S)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    return Start(name, round(answered[""], 3), round(answered["config"], 3))


def run(rounds: int, app_dir: Path) -> dict:
    """``rounds`` alternating starts of the bare app and ``app_dir``'s ``app.py``; medians and ratios."""
    with tempfile.TemporaryDirectory(prefix="chargen-bare-") as scratch:
        bare = Path(scratch) / "bare_app.py"
        bare.write_text(BARE_APP)
        starts: list[Start] = []
        for round_ in range(rounds):
            order = [("bare", [sys.executable, str(bare)], Path(scratch))]
            order.append(("app", [sys.executable, "app.py"], app_dir))
            for name, command, cwd in order if round_ % 2 == 0 else reversed(order):
                starts.append(time_start(command, cwd, name))
    medians = {
        name: {
            "page_s": statistics.median(s.page_s for s in starts if s.app == name),
            "config_s": statistics.median(s.config_s for s in starts if s.app == name),
        }
        for name in ("bare", "app")
    }
    ratios = {key: round(medians["app"][key] / medians["bare"][key], 2) for key in ("page_s", "config_s")}
    return {
        "rounds": rounds,
        "app_dir": str(app_dir),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "medians": medians,
        "ratio_app_to_bare": ratios,
        "starts": [asdict(s) for s in starts],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="starts of each app (default 5)")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose app.py to start")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    result = run(args.rounds, args.app_dir.resolve())
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.rounds} starts each, alternating; load average at the end {result['load_average']}")
    for name in ("bare", "app"):
        m = result["medians"][name]
        print(f"{name:<5} first 200 on /: {m['page_s']:.2f} s, on /config: {m['config_s']:.2f} s (median)")
    r = result["ratio_app_to_bare"]
    print(f"app / bare: / {r['page_s']:.2f}x, /config {r['config_s']:.2f}x (goal: <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
