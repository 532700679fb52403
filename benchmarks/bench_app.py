"""How fast the app is for a visitor, measured from the outside.

1. ``python app.py`` from process start to the first HTTP 200 on its page (several starts).
2. In a real browser (Playwright driving /usr/bin/chromium): from the click on Generate to the
   first streamed character on screen, and to both outputs complete (300 characters each).

Run it on a quiet machine; other processes on the same cores change every figure::

    .venv/bin/python benchmarks/bench_app.py [--starts 3] [--clicks 5] [--length 300]

Goals (issue 5): ready <= 6 s (importing gradio alone takes ~3.5 s here), first character
<= 300 ms after the click.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Runs in the page: note the click time, then poll the output boxes every few milliseconds.
WATCH_JS = """([length]) => {
    // With the "instant" playback the page shows what the server has sent as it arrives, so these
    // are the server's and the network's times, not the typing animation's.
    const count = (id) => document.querySelector(`#${id} .cg-text`)?.children.length ?? 0;
    const run = {click: null, first: null, done: null, cleared: false};
    window.benchRun = run;
    document.querySelector("#generate").addEventListener("click", () => { run.click = performance.now(); },
        {capture: true, once: true});
    const timer = setInterval(() => {
        if (run.click === null) return;
        const now = performance.now();
        if (count("sampled") === 0) run.cleared = true;  // the last run's texts are gone
        if (run.cleared && run.first === null && count("greedy") > 0 && count("sampled") > 0) run.first = now;
        const state = window.chargen.state;
        if (run.first !== null && state.finished && count("greedy") === length && count("sampled") === length) {
            run.done = now;
            clearInterval(timer);
        }
    }, 2);
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int) -> tuple[subprocess.Popen, float]:
    """Start ``python app.py``; return the process and the seconds until its page answered 200."""
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
        if time.perf_counter() - started > 120:
            process.kill()
            raise RuntimeError("app.py did not answer within 120 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def browser_clicks(url: str, clicks: int, length: int) -> list[tuple[float, float]]:
    """Click Generate ``clicks`` times; (ms to first character, ms to both outputs complete) each."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url, timeout=120_000)
        page.wait_for_selector("#generate", timeout=120_000)
        page.wait_for_selector("#chart-bars .bars", timeout=120_000)  # the page-load chart is drawn
        page.locator("#playback").get_by_text("instant", exact=True).click()
        page.locator("#prompt textarea").fill("ROMEO:")
        page.locator("#length input[type=number]").fill(str(length))
        page.locator("#length input[type=number]").press("Enter")
        for _ in range(clicks + 1):  # the first click warms up and is not counted
            page.evaluate(WATCH_JS, [length])
            page.locator("#generate").click()
            page.wait_for_function("window.benchRun.done !== null", timeout=120_000)
            run = page.evaluate("window.benchRun")
            results.append((run["first"] - run["click"], run["done"] - run["click"]))
            page.wait_for_timeout(300)  # let the chart that follows a generation finish
        browser.close()
    return results[1:]


def describe(values: list[float], unit: str, digits: int = 0) -> str:
    return (
        f"median {statistics.median(values):.{digits}f} {unit} "
        f"(min {min(values):.{digits}f}, max {max(values):.{digits}f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3, help="how many times to start python app.py")
    parser.add_argument("--clicks", type=int, default=5, help="how many timed Generate clicks")
    parser.add_argument("--length", type=int, default=300, help="characters per output")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    ready = []
    process, port = None, 0
    for i in range(args.starts):
        port = free_port()
        process, seconds = start_app(port)
        ready.append(seconds)
        print(f"start {i + 1}: first HTTP 200 after {seconds:.2f} s")
        if i < args.starts - 1:
            stop(process)
    print(f"python app.py -> first HTTP 200: {describe(ready, 's', 2)}")

    assert process is not None
    url = f"http://127.0.0.1:{port}/"
    try:
        results = browser_clicks(url, args.clicks, args.length)
    finally:
        stop(process)
    first = [r[0] for r in results]
    done = [r[1] for r in results]
    print(f"click -> first streamed character on screen: {describe(first, 'ms')}")
    print(f"click -> both outputs complete ({args.length} characters each): {describe(done, 'ms')}")


if __name__ == "__main__":
    main()
