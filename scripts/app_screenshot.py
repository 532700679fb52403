"""Make the README's screenshot of the app from the real page: the bundled models served in-process,
Chromium at a laptop size, a fixed prompt and seed (so the picture only changes when the page does),
one sampled character clicked so the chart shows its step.

usage (from the project root, with Chromium at /usr/bin/chromium):
    .venv/bin/python scripts/app_screenshot.py [--out docs/app.jpg] [--width 1280] [--height 900]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app.jpg")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--prompt", default="ROMEO:\n")
    parser.add_argument("--seed", default="11")
    parser.add_argument("--click", type=int, default=23, help="which sampled character's step the chart shows")
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from playwright.sync_api import sync_playwright

    from chargen.app import demo as app
    from chargen.app import views

    views.set_torch_threads(app.TORCH_THREADS)
    models, notices = app.load_app_models(None)
    demo = app.build_demo(models, notices)
    demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **app.launch_options())
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            query = f"?prompt={args.prompt}&seed={args.seed}&length=300&playback=instant&model=shakespeare"
            page.goto(demo.local_url + query.replace("\n", "%0A"), wait_until="networkidle")
            page.wait_for_function("window.chargen && window.chargen.state.finished === true", timeout=120_000)
            page.locator(f"#sampled .c[data-i='{args.click}']").click()
            page.wait_for_function(
                f"document.querySelector('#chart-caption').innerText.startsWith('Character {args.click + 1} ')"
            )
            page.locator("#lesson").scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if args.out.suffix.lower() in (".jpg", ".jpeg"):
                page.screenshot(path=str(args.out), type="jpeg", quality=70, full_page=True)
            else:
                page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"{args.out}: {args.out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
