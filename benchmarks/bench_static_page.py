"""The static page in Chromium: download size, time to first character on a cold page, characters per second.

    .venv/bin/python benchmarks/bench_static_page.py                    # builds the Shakespeare page (fp16)
    .venv/bin/python benchmarks/bench_static_page.py --site DIR         # a page built by deploy --static --dry-run

Serves the folder from 127.0.0.1 with ``http.server`` (every other address blocked) and, for each of
``--runs`` cold pages (a fresh browser profile: nothing cached), clicks Generate as soon as the button
exists (the page's defaults: "ROMEO:", 300 characters, typing playback) and times the first character
drawn, from the click and from navigation (the page loads the runtime and the model first). Then, on a
loaded page, it generates ``--length`` characters at temperature 0.8 with instant playback and reports
the steps per second of the two rows (greedy and sampled) together: each step writes one character
per row in a character model, so that is the characters per second per row. It also times the bare
step (``session.run`` at batch 2). Figures are medians; a machine shared with other work gives noisy ones.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 300_000

STEP_RATE_JS = """async (steps) => {
  const model = await window.chargen.model();
  const d = model.description, rows = 2;
  const state = Object.fromEntries(model.states.map((n) => [n, new Float32Array(d.layers * rows * d.hidden)]));
  let out = {state};
  for (let i = 0; i < 20; i++) out = await model.step([1, 2], out.state);
  const started = performance.now();
  for (let i = 0; i < steps; i++) out = await model.step([1, 2], out.state);
  return (1000 * steps) / (performance.now() - started);
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def open_page(browser, url: str):
    context = browser.new_context()  # a fresh profile: a cold page, nothing cached
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    return context, context.new_page()


DOWNLOADED_JS = """() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
  .reduce((total, entry) => total + entry.encodedBodySize, 0)"""


def generate(page, prompt: str, temperature: float, length: int, playback: str = "typing") -> dict:
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#temperature input[type=number]").fill(str(temperature))
    page.locator("#length input[type=number]").fill(str(length))
    page.locator(f"#playback input[value='{playback}']").check()
    page.locator("#generate").click()
    page.wait_for_function("window.chargen.state.finished === true", timeout=TIMEOUT_MS)
    error = page.evaluate("window.chargen.state.error")
    if error:
        raise RuntimeError(error)
    return page.evaluate("window.chargen.state.timings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", help="a folder written by `deploy --static --dry-run` (default: build one)")
    parser.add_argument("--model", default=str(ROOT / "checkpoints" / "shakespeare"), help="when building")
    parser.add_argument("--runs", type=int, default=3, help="cold pages to time (default 3)")
    parser.add_argument("--length", type=int, default=1000, help="characters per timed generation (default 1000)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        if args.site:
            folder = Path(args.site)
        else:
            from chargen.hosting.static import build_static_site

            folder = build_static_site([args.model], Path(tmp) / "site", log=lambda line: None).folder
        on_disk = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        server, url = serve(folder)
        first_char, from_start, downloaded, rates, steps, loads = [], [], [], [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for _ in range(args.runs):
                context, page = open_page(browser, url)
                page.goto(url, wait_until="commit")
                page.locator("#generate").click()  # at once, with the page's defaults: before the model has loaded
                page.wait_for_function("window.chargen?.state.finished === true", timeout=TIMEOUT_MS)
                timings = page.evaluate("window.chargen.state.timings")
                loads.append(page.evaluate("window.chargen.state.load"))
                first_char.append(timings["firstCharMs"] / 1000)
                from_start.append((timings["clicked"] + timings["firstCharMs"]) / 1000)
                downloaded.append(page.evaluate(DOWNLOADED_JS))
                for _ in range(3):
                    timings = generate(page, "ROMEO:", 0.8, args.length, playback="instant")
                    rates.append(1000 * timings["steps"] / timings["generationMs"])
                steps.append(page.evaluate(STEP_RATE_JS, 1000))
                context.close()
            version = browser.version
            browser.close()
        server.shutdown()
    summary = {
        "site_mb_on_disk": round(on_disk / 1e6, 2),
        "downloaded_mb": round(statistics.median(downloaded) / 1e6, 2),
        "first_char_s_cold": round(statistics.median(first_char), 2),
        "first_char_s_runs": [round(t, 2) for t in first_char],
        "first_char_s_from_navigation": round(statistics.median(from_start), 2),
        "load_s": {k.removesuffix("Ms"): round(statistics.median(x[k] for x in loads) / 1000, 2) for k in loads[0]},
        "chars_per_s_per_row": round(statistics.median(rates)),
        "bare_steps_per_s_batch2": round(statistics.median(steps)),
        "chromium": version,
        "length": args.length,
        "load_average": [round(x, 1) for x in os.getloadavg()],  # other work on the machine slows every figure
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
