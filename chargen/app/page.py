"""The page's own look and behaviour, and how the browser gets them.

The server generates at full speed and sends a few coalesced updates (``views.page_data``); the page's
script animates them in the browser (instant, typing or step by step), so a visitor watching slowly
holds no generation slot. It also draws whitespace as markers, the loop highlight and the surprise
shading in place, where greedy and sampled part, and the chart of the distribution at a clicked
step; it keeps the page's state in its URL.

The script and the styles are files in ``static/`` that the browser fetches by URL and may cache
(gradio sends them with Last-Modified, no Cache-Control; each URL carries a hash of its file, so a new
deploy is fetched anew), not text in every visitor's ``/config`` and page; ``launch_options()``
registers them with gradio and returns the small ``head`` that links them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

from chargen.app import i18n
from chargen.app.views import APP_MAX_LENGTH, WHITESPACE_MARKERS

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The page's front-end files: what the browser fetches, and the HTML fragments read here."""
SCRIPT_PATH = STATIC_DIR / "chargen.js"
"""The page's script: ``window.chargen`` holds what the events' ``js=`` one-liners call."""
STYLE_PATH = STATIC_DIR / "chargen.css"
"""Styles for the panes and the chart; gradio's own colour variables keep them readable in dark mode."""
BOOT_PATH = STATIC_DIR / "boot.js"
"""Stand-ins for ``window.chargen`` until the script arrives: inlined in the head, since it must run first."""
I18N_SCRIPT_PATH = STATIC_DIR / "i18n.js"
"""The page in the visitor's language: ``window.chargenI18n``, loaded before the page's script."""
CATALOGUE_PATHS = tuple(i18n.catalogue_path(language) for language in i18n.LANGUAGES)
"""The catalogues the page fetches: English (its matcher) and the chosen language's."""
SERVED_PATHS = (I18N_SCRIPT_PATH, SCRIPT_PATH, STYLE_PATH, *CATALOGUE_PATHS)
"""The files gradio serves at ``gradio_api/file=``; nothing else in the package is served."""

PLAYBACK_KEYS = {
    "generate.playback_typing": "typing",
    "generate.playback_steps": "step by step",
    "generate.playback_instant": "instant",
}
"""How the page shows a generation: the catalogue key of its words -> the mode's name (as the script and the
page's link know it); the first is the default."""
PLAYBACK_MODES = tuple(PLAYBACK_KEYS.values())
"""The playback modes' names; the first is the default."""
TYPING_FRAMES = 150
"""A typed-out text takes about this many animation frames (~2.5 s at 60 frames/s), at least one
character per frame, whatever its length: the count of frames, not the clock, sets what a browser
sees, so a slow browser sees the same steps, only later."""
CHART_ROWS = 10
"""How many of the likeliest characters the chart shows (the drawn one is always shown too)."""

LESSON_HTML = (STATIC_DIR / "lesson.html").read_text(encoding="utf-8")
"""The two texts' panes, drawn once; the script fills them."""
CHART_HTML = (STATIC_DIR / "chart.html").read_text(encoding="utf-8")
"""The distribution chart's frame; the script draws the bars from ``/distribution``'s data."""


def page_config() -> dict[str, Any]:
    """What the script takes from the server, as ``window.chargenConfig``: the whitespace markers, the
    playback modes (the first is the default), the typing frames, the chart's rows, the app's longest
    generation and the languages with their catalogues' URLs."""
    return {
        "markers": WHITESPACE_MARKERS,
        "modes": list(PLAYBACK_MODES),
        "typingFrames": TYPING_FRAMES,
        "chartRows": CHART_ROWS,
        "maxLength": APP_MAX_LENGTH,
        "i18n": {
            "languages": dict(i18n.LANGUAGES),
            "default": i18n.DEFAULT_LANGUAGE,
            "catalogues": {language: static_url(i18n.catalogue_path(language)) for language in i18n.LANGUAGES},
        },
    }


def static_url(path: Path) -> str:
    """The URL at which gradio serves ``path`` (one of :data:`SERVED_PATHS`), relative to the page so a
    mounted app works too, with a short hash of the file's bytes: a changed file gets a new URL."""
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"gradio_api/file={quote(path.as_posix())}?v={version}"


def head_html() -> str:
    """The page's ``<head>`` additions: the settings and the stand-ins inline (they must be there before
    gradio's first events), the stylesheet and the scripts by URL (the language's first: gradio's head
    scripts run in order)."""
    # "<" escaped: a marker or setting holding "</script>" cannot end the inline script.
    config = json.dumps(page_config()).replace("<", "\\u003c")
    # boot.js's comments are for its readers, not for every visitor's /config.
    lines = BOOT_PATH.read_text(encoding="utf-8").splitlines()
    boot = "\n".join(line for line in lines if not line.lstrip().startswith("//"))
    return (
        f"<script>window.chargenConfig = {config};\n{boot}</script>\n"
        f'<link rel="stylesheet" href="{static_url(STYLE_PATH)}">\n'
        f'<script src="{static_url(I18N_SCRIPT_PATH)}"></script>\n'
        f'<script src="{static_url(SCRIPT_PATH)}"></script>'
    )


def language_switch_html() -> str:
    """The switch in the page's header: a button per language, each named in its own language (never
    translated); the page's script (i18n.js) marks the chosen one and switches at a click."""
    buttons = "".join(
        f'<button type="button" class="cg-lang" data-lang="{code}" lang="{code}" translate="no">{name}</button>'
        for code, name in i18n.LANGUAGES.items()
    )
    return f'<nav id="language_switch" data-i18n-attr="aria-label:page.language" aria-label="Language">{buttons}</nav>'


def launch_options() -> dict[str, Any]:
    """What ``demo.launch`` needs for the page to look and work as built: ``{"head": ...}``. Registers
    :data:`SERVED_PATHS` with gradio (for every app in this process) so the head's URLs answer."""
    gr.set_static_paths(list(SERVED_PATHS))  # gradio adds them to its list; a second call's copies change nothing
    return {"head": head_html()}
