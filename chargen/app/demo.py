"""The app's page, built by a function from loaded models, and :func:`main`, which serves it.

``python app.py`` (the Space's entry point) calls :func:`main`: load the models (``chargen-models.txt``
next to the app, else ``CHARGEN_MODELS``, else the bundled ones), build the page with
:func:`build_demo`, launch it and apply the serving optimisations of
:mod:`chargen.app.gradio_internals`. Tests build small demos with :func:`build_demo` and call the
tabs' handlers directly.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from chargen.app import gradio_internals, inside_tab, page, train_views, views
from chargen.app.generate_tab import CONCURRENCY, GenerateTab, Handlers, PageParts, offered_models
from chargen.app.i18n import text
from chargen.hosting.space import configured_models
from chargen.hub import load_models
from chargen.inference.batching import ServingSettings
from chargen.inference.generate import compare
from chargen.model import CharRNN

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""Where the bundled models are found in a checkout or a Space: the folder holding app.py and chargen/."""
QUEUE_SIZE = 32
"""Requests waiting beyond this are refused at once with "Queue is full" instead of timing out."""
TORCH_THREADS = 1
"""Per process. Two threads per request would fight the other request for the same two cores."""

BATCHING = ServingSettings()
"""How ``python app.py`` serves /generate: every visitor's generation of a model stepped in one batch
by one engine thread (chargen.inference.batching), each handler a coroutine, no thread per request, updates
paced so their cost stays flat as visitors come. ``CHARGEN_BATCHING=0`` serves as before: a thread
and a batch of 2 per request, at most ``CONCURRENCY`` at once (benchmarks/load_test.py runs both)."""

__all__ = ["BATCHING", "CONCURRENCY", "Handlers", "build_demo", "launch_options", "load_app_models", "main"]
__all__ += ["MCP_TOOLS", "offered_models", "QUEUE_SIZE", "serve", "TORCH_THREADS", "warm_up", "freeze_startup_objects"]

MCP_TOOLS = ("generate", "distribution", "sweep", "expectations")
"""The endpoints agents can call as MCP tools at /gradio_api/mcp/ (named after their handlers)."""

TabBuilder = Callable[[PageParts], object]
"""Adds one tab's components and events; called inside its ``gr.Tab``."""
TABS: list[tuple[str, TabBuilder]] = [(text("page.tab_inside"), inside_tab.InsideTab.add_to_page)]
"""Extra tabs (title, builder) that :func:`build_demo` adds after "Generate" by default."""


def build_demo(
    models: Mapping[str, CharRNN | views.OfferedModel] | Sequence[views.OfferedModel],
    notices: Sequence[str] = (),
    *,
    tabs: Sequence[tuple[str, TabBuilder]] | None = None,
    session_models: train_views.SessionModels | None = None,
    train_settings: train_views.TrainTabSettings | None = None,
    batching: ServingSettings | None = None,
) -> gr.Blocks:
    """The app's page for these loaded models (short name -> model; the first is the default), with
    ``notices`` from loading shown at the top and ``tabs`` (default :data:`TABS`) after "Generate".
    With ``batching`` (``python app.py`` passes :data:`BATCHING`) /generate runs on one batching
    engine per model. Serve it with ``demo.launch(**launch_options())``."""
    session_models = session_models or train_views.SessionModels()  # the Train tab's, per visitor
    handlers = Handlers(models, session_models, batching)
    extra_tabs = [
        *(TABS if tabs is None else tabs),
        (text("page.tab_train"), train_views.TrainTab.builder(session_models, train_settings)),
    ]
    header_text, _ = handlers.header(handlers.model_names[0])
    with gr.Blocks(title=text("page.title")) as demo:
        with gr.Row(elem_id="page_head", equal_height=False):
            header = gr.Markdown(header_text, elem_id="header")
            gr.HTML(page.language_switch_html(), js_on_load=None, elem_id="language_box", scale=0, min_width=150)
        gr.Markdown(views.notices_markdown(notices), elem_id="startup-notices", visible=bool(notices))
        generate_tab = GenerateTab(handlers, batching)
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab(text("page.tab_generate"), elem_id="generate_tab"):
                generate_tab.render()
            for title, add_tab in extra_tabs:
                with gr.Tab(title):
                    add_tab(generate_tab.parts())
        generate_tab.wire_events(demo, header)
    # Batched, a burst of visitors runs at once instead of waiting, but each page then asks for its
    # chart (2 at a time): the queue holds a burst of those too.
    queue_size = QUEUE_SIZE if batching is None else max(QUEUE_SIZE, batching.max_active)
    demo.queue(max_size=queue_size, default_concurrency_limit=CONCURRENCY)
    return demo


def launch_options() -> dict[str, Any]:
    """What ``demo.launch`` needs for the page to look and work as built: its CSS and script."""
    return page.launch_options()


def load_app_models(
    configured: str | None = None, project_dir: Path = PROJECT_DIR
) -> tuple[list[views.OfferedModel], list[str]]:
    """Load the models the app offers (``CHARGEN_MODELS``-style ``configured``, else the bundled
    ones next to ``project_dir``) and the notices about any that failed."""
    sources = views.model_sources(configured, project_dir)
    fallback_name, fallback = views.fallback_source(project_dir)
    loaded = load_models(list(sources.values()), fallback=fallback)
    by_source = {source: name for name, source in sources.items()}
    by_source.setdefault(fallback, fallback_name)
    offered = [
        views.OfferedModel(
            name=by_source.get(source, views.short_name(source)),
            model=model,
            source=source,
            facts=views.card_facts(source) if Path(source).is_dir() else "",
        )
        for source, model in loaded.models.items()
    ]
    return offered, list(loaded.notices)


def warm_up(models: Sequence[views.OfferedModel]) -> None:
    """Pay the one-time costs before the first visitors do. Gradio wraps every event in a matplotlib
    backend switch, so its first event imports matplotlib and pyplot on the server's event loop
    (~1 s in which nothing is served); each model also packs its weights on its first generation."""
    import matplotlib

    matplotlib.get_backend()
    for offered in models:
        compare(offered.model, "", 1)


def freeze_startup_objects() -> int:
    """Collect garbage once, then move every object alive now (gradio's, torch's, the page's, the
    models') out of the garbage collector's sight (``gc.freeze``); returns how many were frozen.

    They live as long as the server, but a full collection walks them all: ~330,000 objects, 0.2-0.4 s
    in which the whole process (the event loop, the batching engine) stops. A 100-visitor burst
    allocates enough to trigger several: py-spy showed ~1.4 s of them on the event loop's thread
    (benchmarks/load_test.py ``--arrive``). Frozen, a full collection walks only what came since.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def serve(demo: gr.Blocks, batching: ServingSettings | None = None, **launch: Any) -> None:
    """Launch ``demo`` as ``python app.py`` does (without blocking): its CSS and script, the MCP server
    with :data:`MCP_TOOLS`, and the serving optimisations of :mod:`chargen.app.gradio_internals`.
    ``launch`` adds ``demo.launch`` options (tests: a server name and port)."""
    # Gradio's queue runs at most max_threads events at once (default 40), whatever their concurrency
    # limits: batched, generations are coroutines, so let in every one the engine holds, plus the 40.
    max_threads = 40 if batching is None else batching.max_active + 40
    demo.launch(prevent_thread_lock=True, max_threads=max_threads, mcp_server=True, **launch_options(), **launch)
    gradio_internals.optimise_serving(demo)
    gradio_internals.limit_mcp_tools(demo, MCP_TOOLS)


def main(project_dir: Path = PROJECT_DIR) -> None:
    """Load the models and serve the page (answering first: the warm-up doesn't delay the page).
    ``project_dir`` holds the bundled ``checkpoints/`` and a deploy's ``chargen-models.txt``."""
    views.set_torch_threads(TORCH_THREADS)
    models, notices = load_app_models(configured_models(project_dir, os.environ), project_dir)
    batching = None if os.environ.get("CHARGEN_BATCHING", "1") == "0" else BATCHING
    demo = build_demo(models, notices, batching=batching)
    serve(demo, batching)
    warm_up(models)
    freeze_startup_objects()
    demo.block_thread()
