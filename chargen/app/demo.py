"""The app's page, built by a function from loaded models, and :func:`main`, which serves it.

``python app.py`` (the Space's entry point) calls :func:`main`: read the models' outlines (``chargen-models.txt``
next to the app, else ``CHARGEN_MODELS``, else the bundled ones; :mod:`chargen.app.outlines`), build the
page with :func:`build_demo`, launch it and apply the serving optimisations of
:mod:`chargen.app.gradio_internals`, and only then import torch and load the models, behind the page
(events that come before wait for them). Importing this module imports no torch. Tests build small
demos with :func:`build_demo` and call the tabs' handlers directly.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from chargen.app import gradio_internals, inside_tab, page, train_views, views
from chargen.app.generate_tab import CONCURRENCY, GenerateTab, Handlers, PageParts, offered_models
from chargen.app.i18n import text
from chargen.app.outlines import read_outline
from chargen.errors import ChargenError
from chargen.hosting.space import configured_models
from chargen.hub import is_local_name, load_models

if TYPE_CHECKING:  # imported behind the page (main): torch is not imported with this module
    from chargen.inference.batching import ServingSettings
    from chargen.model import CharRNN

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""Where the bundled models are found in a checkout or a Space: the folder holding app.py and chargen/."""
QUEUE_SIZE = 32
"""Requests waiting beyond this are refused at once with "Queue is full" instead of timing out."""
SWITCH_INTERVAL_S = 0.001
"""How long a Python thread may hold the GIL while another waits for it (Python's default: 5 ms). The
batching engine's step thread lets go of it in every torch op and must win it back from the event loop
serving a burst of visitors; at 5 ms each hand-back could wait that long, and a generation is ~400 steps.
100 arriving visitors: p95 2.47-3.06 s at 5 ms, 2.29-2.50 s at 1 ms (benchmarks/load_test.py --arrive
--distinct-prompts --users 100, this 2-core machine, 2026-12-04, back to back)."""
TORCH_THREADS = 1
"""Per process. Two threads per request would fight the other request for the same two cores."""

MAX_ACTIVE = 256
"""Generations the batching engine of one model holds at once (:data:`BATCHING`'s ``max_active``)."""


def __getattr__(name: str) -> Any:
    """:data:`BATCHING`, made on first use: chargen.inference.batching imports torch (PEP 562)."""
    if name == "BATCHING":
        return _batching()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BATCHING: ServingSettings
"""How ``python app.py`` serves /generate: every visitor's generation of a model stepped in one batch
by one engine thread (chargen.inference.batching), each handler a coroutine, no thread per request, updates
paced so their cost stays flat as visitors come. ``CHARGEN_BATCHING=0`` serves as before: a thread
and a batch of 2 per request, at most ``CONCURRENCY`` at once (benchmarks/load_test.py runs both)."""


def _batching() -> ServingSettings:
    if "BATCHING" not in globals():
        from chargen.inference.batching import ServingSettings

        globals()["BATCHING"] = ServingSettings(max_active=MAX_ACTIVE)
    return globals()["BATCHING"]


@dataclass(frozen=True)
class PageBatching:
    """What the page's events need of :data:`BATCHING` (its ``max_active``) while torch is not yet imported."""

    max_active: int = MAX_ACTIVE


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
    batching: ServingSettings | PageBatching | None = None,
    handlers: Handlers | None = None,
) -> gr.Blocks:
    """The app's page for these loaded models (short name -> model; the first is the default), with
    ``notices`` from loading shown at the top and ``tabs`` (default :data:`TABS`) after "Generate".
    With ``batching`` (``python app.py`` passes :data:`BATCHING`) /generate runs on one batching
    engine per model. Serve it with ``demo.launch(**launch_options())``. ``handlers``: the page's
    handlers when made already (:func:`main` makes them from the models' outlines, loads the models later)."""
    session_models = session_models or train_views.SessionModels()  # the Train tab's, per visitor
    handlers = handlers or Handlers(models, session_models, batching)
    extra_tabs = [
        *(TABS if tabs is None else tabs),
        (text("page.tab_train"), train_views.TrainTab.builder(session_models, train_settings)),
    ]
    header_text, _ = handlers.header(handlers.model_names[0])
    with gr.Blocks(title=text("page.title")) as demo:
        with gr.Row(elem_id="page_head", equal_height=False):
            header = gr.Markdown(header_text, elem_id="header", min_width=300)  # the switch above it on a phone
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


def outline_app_models(
    configured: str | None = None, project_dir: Path = PROJECT_DIR
) -> list[views.OfferedModel] | None:
    """The models :func:`load_app_models` would offer, as the page shows them before they are loaded (each
    one's ``model`` an :class:`~chargen.app.outlines.ModelOutline` read without torch), or None when one of
    them can't be outlined (a Hub repo, an n-gram model, a folder that isn't a checkpoint): those are loaded
    before the page, so their notices show on it."""
    offered = []
    for name, source in views.model_sources(configured, project_dir).items():
        if not is_local_name(source):
            return None
        try:
            outline = read_outline(source)
        except ChargenError:
            return None
        offered.append(views.OfferedModel(name=name, model=outline, source=source, facts=views.card_facts(source)))
    return offered


def warm_up(models: Sequence[views.OfferedModel]) -> None:
    """Pay the one-time costs before the first visitors do. Gradio wraps every event in a matplotlib
    backend switch, so its first event imports matplotlib and pyplot on the server's event loop
    (~1 s in which nothing is served); each model also packs its weights on its first generation."""
    import matplotlib

    from chargen.inference.generate import compare

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


def serve(
    demo: gr.Blocks,
    batching: ServingSettings | PageBatching | None = None,
    ready: threading.Event | None = None,
    **launch: Any,
) -> None:
    """Launch ``demo`` as ``python app.py`` does (without blocking): its CSS and script, the MCP server
    with :data:`MCP_TOOLS`, and the serving optimisations of :mod:`chargen.app.gradio_internals`.
    With ``ready`` (set once the models are loaded), every event waits for it and ``GET /chargen/ready``
    says whether it is set. ``launch`` adds ``demo.launch`` options (tests: a server name and port)."""
    if ready is not None:
        gradio_internals.wait_before_events(demo, ready)
    # Gradio's queue runs at most max_threads events at once (default 40), whatever their concurrency
    # limits: batched, generations are coroutines, so let in every one the engine holds, plus the 40.
    max_threads = 40 if batching is None else batching.max_active + 40
    app = {"routes": [gradio_internals.ready_route(ready or _SET)]}
    options = {"max_threads": max_threads, "mcp_server": True, "app_kwargs": app, **launch_options(), **launch}
    demo.launch(prevent_thread_lock=True, **options)
    gradio_internals.optimise_serving(demo)
    gradio_internals.limit_mcp_tools(demo, MCP_TOOLS)


_SET = threading.Event()
_SET.set()  # a demo built from loaded models is ready at once


def main(project_dir: Path = PROJECT_DIR) -> None:
    """Serve the page, then import torch and load the models behind it (events that come first wait for
    them; the Generate button says "loading the model…" until then), then warm up.
    ``project_dir`` holds the bundled ``checkpoints/`` and a deploy's ``chargen-models.txt``."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    configured = configured_models(project_dir, os.environ)
    batched = os.environ.get("CHARGEN_BATCHING", "1") != "0"
    outlined = outline_app_models(configured, project_dir)
    if outlined is None:  # a model read from the Hub (or not outlined): loaded first, as its notices show on the page
        views.set_torch_threads(TORCH_THREADS)
        models, notices = load_app_models(configured, project_dir)
        batching = _batching() if batched else None
        demo = build_demo(models, notices, batching=batching)
        serve(demo, batching)
        warm_up(models)
        freeze_startup_objects()
        demo.block_thread()
        return
    page_batching = PageBatching() if batched else None
    session_models = train_views.SessionModels()
    handlers = Handlers(outlined, session_models, page_batching)
    demo = build_demo(outlined, batching=page_batching, session_models=session_models, handlers=handlers)
    serve(demo, page_batching, ready=handlers.loaded)
    loader = threading.Thread(
        target=load_behind_page, args=(handlers, configured, project_dir, batched), name="chargen-load", daemon=True
    )
    loader.start()
    demo.block_thread()


def load_behind_page(handlers: Handlers, configured: str | None, project_dir: Path, batched: bool = True) -> None:
    """Import torch, load the models the page was built for, warm them up and hand them to ``handlers``
    (which sets ``handlers.loaded``: the waiting events run), then freeze the start-up's objects. A model
    that fails to load is refused by the events that name it (the reason is printed); events never wait forever."""
    try:
        views.set_torch_threads(TORCH_THREADS)
        models, notices = load_app_models(configured, project_dir)
        for notice in notices:
            print(f"chargen: {notice}", file=sys.stderr)
        warm_up(models)
        handlers.use_models(models, _batching() if batched else None)
    except Exception:
        traceback.print_exc()
    finally:
        handlers.loaded.set()
    freeze_startup_objects()
