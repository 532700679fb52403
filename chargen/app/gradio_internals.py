"""Every use of gradio's private internals, in one place, applied only on the version tested.

The app reaches past gradio's public API for two serving optimisations and to choose its MCP tools;
:func:`optimise_serving` applies the optimisations to a launched demo when the installed gradio is one this module
was tested on (:data:`TESTED_GRADIO`, pinned by the ``app`` extra), and otherwise warns and leaves
gradio's defaults. Each internal is named where it is used and tested in tests/test_gradio_internals.py:

1. **Lazy sessions** (``gradio.state_holder.SessionState``, ``StateHolder`` and ``server_app.state_holder``).
   Gradio 6.31 makes a ``SessionState`` for every new visitor (session hash) on their first event,
   and its ``__init__`` builds the config of *every* block of the app (``config_for_block``: each
   component's ``get_config`` and ``api_info``, through ``inspect.signature``). The app has ~160
   blocks: that took 20-35 ms of the server's event loop per new visitor, the largest single item
   in a profile of a 100-visitor burst (py-spy, ``benchmarks/load_test.py --users 100``), and every
   visitor's queue join waited behind the ones before it.

   Those configs are read only to make a deep link (``gr.DeepLinkButton``, which the app does not
   use) and to record the values events give a block. :class:`LazySessionState` keeps the same
   ``config_values`` mapping (the same keys, the same configs, the same values applied), but builds a
   block's config when something reads it; a value an event gives a block that nobody has read yet
   is remembered and applied when its config is built.

2. **The queue's idle poll** (``Blocks._queue.sleep_when_free``). Gradio's queue looks for events every
   1 ms while none can start: 1,000 wake-ups a second of the event loop, which then takes the GIL from
   the batching engine. Every :data:`QUEUE_POLL_S` is enough.

3. **The page and its config, made once** (the routes ``/`` and ``/config`` of ``Blocks.server_app``).
   Gradio builds both anew for every request: ``/config`` deep-copies the app's whole config
   (``utils.safe_deepcopy``) and rewrites its root URL; ``/`` does the same into an HTML page with the
   API's description. For this app that was ~7 ms (``/config``, 142 KB) and ~20 ms (``/``, 190 KB) of
   server CPU per visitor (benchmarks/load_test.py ``--arrive``). :func:`cache_page` serves each
   route's bytes as gradio made them for the first request with the same root URL and no query
   parameters (anything else goes to gradio's own route), compressed once (brotli, else gzip, as
   the client accepts: gradio's ``BrotliMiddleware`` compressed every response anew, and passes one
   already encoded through). Only for an app without login: with login, the page depends on who asks.

4. **The MCP server's tools** (``Blocks.mcp_server_obj.tool_to_endpoint``). Gradio makes every documented
   endpoint an MCP tool; the only public way to leave one out is ``api_visibility="undocumented"``, which
   also hides its inputs from ``gradio_client`` (no defaults filled: a change of the endpoints' contract).
   :func:`limit_mcp_tools` keeps every endpoint as it is and offers agents the chosen tools only.

5. **Events that wait for the models** (``Blocks.fns``, each ``BlockFunction.fn``). ``python app.py`` serves
   its page before it loads the models (:func:`chargen.app.demo.main`). :func:`wait_before_events` wraps
   every event's function so that it first waits until they are loaded: a function of the same kind
   (sync or async, generator or not) with the same name, docstring and signature (``functools.wraps``),
   which is all gradio reads of it when it runs an event or lists an MCP tool. :func:`ready_route` is
   the page's ``GET /chargen/ready`` (``{"ready": bool}``), which the page's script asks while it shows
   "loading the model…" on the Generate button: a plain route, not a queued event.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import inspect
import os
import threading
import warnings
from collections.abc import Callable, Collection, Iterator, MutableMapping
from copy import copy
from typing import Any

import brotli
import gradio as gr
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from gradio import route_utils
from gradio.state_holder import SessionState, StateHolder
from starlette.concurrency import run_in_threadpool

__all__ = [
    "CachedPage",
    "LazySessionState",
    "LazyStateHolder",
    "QUEUE_POLL_S",
    "TESTED_GRADIO",
    "cache_page",
    "install",
    "limit_mcp_tools",
    "optimise_serving",
]

TESTED_GRADIO = ("6.31",)
"""gradio releases (major.minor) whose internals this module was written and tested against."""
QUEUE_POLL_S = 0.01
"""How often gradio's queue looks for a new event while it has none (gradio: 0.001 s, 0.05 s on Windows)."""

_NO_VALUE = object()


class _BlockConfigs(MutableMapping):
    """``SessionState.config_values``, built per block on first read.

    Holds every block id of the app from the start (as gradio's dict does); ``set_value`` is
    ``config["props"]["value"] = value`` for a config that exists, and is remembered otherwise.
    """

    def __init__(self, blocks_config: Any, block_ids: list[int]):
        self._blocks_config = blocks_config
        self._order: dict[int, None] = dict.fromkeys(block_ids)  # keys, in gradio's order
        self._built: dict[int, dict] = {}
        self._values: dict[int, Any] = {}  # block id -> the latest value an event gave it, not yet applied

    def __getitem__(self, key: int) -> dict:
        config = self._built.get(key)
        if config is None:
            if key not in self._order:
                raise KeyError(key)
            config = self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
            value = self._values.pop(key, _NO_VALUE)
            if value is not _NO_VALUE and "props" in config:
                config["props"]["value"] = value
            self._built[key] = config
        return config

    def __setitem__(self, key: int, config: dict) -> None:
        self._order.setdefault(key)
        self._values.pop(key, None)  # gradio replaces the whole config: earlier values go with it
        self._built[key] = config

    def __delitem__(self, key: int) -> None:
        del self._order[key]
        self._built.pop(key, None)
        self._values.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._order

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def set_value(self, key: int, value: Any) -> None:
        """What gradio's ``_update_value_in_config`` does, without building a config nobody read."""
        config = self._built.get(key)
        if config is not None:
            if "props" in config:
                config["props"]["value"] = value
            return
        self._order.setdefault(key)
        self._values[key] = value


class LazySessionState(SessionState):
    """A ``SessionState`` whose ``config_values`` are built block by block when read (see the module doc)."""

    def __init__(self, blocks: gr.Blocks):
        # SessionState.__init__ (gradio 6.31) but for config_values: the same attributes, the
        # same values (tests/test_lazy_sessions.py compares the two).
        self.blocks_config = copy(blocks.default_config)
        ids = [k for k in self.blocks_config.blocks if k in blocks.blocks]
        self.config_values = _BlockConfigs(self.blocks_config, ids)
        self.state_data: dict[int, Any] = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    def _update_value_in_config(self, key: int, value: Any) -> None:
        self.config_values.set_value(key, value)


class LazyStateHolder(StateHolder):
    """gradio's ``StateHolder``, making :class:`LazySessionState` sessions."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LazySessionState(self.blocks)
        return super().__getitem__(session_id)


def install(demo: gr.Blocks) -> None:
    """Make the launched ``demo`` keep its visitors' sessions in a :class:`LazyStateHolder`.

    Call it right after ``demo.launch(...)``; sessions made before keep working (they move over).
    """
    app = getattr(demo, "server_app", None)
    if app is None:
        raise RuntimeError("install(demo) needs a launched demo: call demo.launch(...) first")
    old = app.state_holder
    holder = LazyStateHolder()
    holder.set_blocks(demo)
    with old.lock:
        holder.session_data.update(old.session_data)
        holder.time_last_used.update(old.time_last_used)
        app.state_holder = holder


def is_tested(version: str | None = None) -> bool:
    """Whether ``version`` (default: the installed gradio's) is one this module's internals were tested on."""
    major_minor = ".".join((version or gr.__version__).split(".")[:2])
    return major_minor in TESTED_GRADIO


def set_queue_poll(demo: gr.Blocks, seconds: float = QUEUE_POLL_S) -> None:
    """How often the launched ``demo``'s queue looks for new events while none can start."""
    demo._queue.sleep_when_free = seconds  # gradio 6.31: Queue.sleep_when_free, read each idle loop


CACHED_ROUTES = {"/": "main", "/config": "get_config", "/config/": "get_config"}
"""The routes :func:`cache_page` serves from memory, with the names of gradio 6.31's endpoint functions."""
CACHED_ROOTS = 8
"""Root URLs (hosts the app is reached by) whose page each route keeps; others are made anew each time."""
COMPRESS_MIN_BYTES = 1024
"""Smaller bodies are sent as they are: compressing would save little."""


class _Made:
    """One cached response: its body, its content type, and its body compressed (brotli first)."""

    def __init__(self, body: bytes, content_type: str):
        self.body = body
        self.content_type = content_type
        self.encoded: dict[str, bytes] = {}
        if len(body) >= COMPRESS_MIN_BYTES:
            self.encoded["br"] = brotli.compress(body, quality=9)  # once: denser than gradio's quality 4, ~30 ms
            self.encoded["gzip"] = gzip.compress(body, compresslevel=9, mtime=0)


GRADIO_QUERY = ("page", "deep_link")
"""The query parameters gradio's ``/`` and ``/config`` read (gradio 6.31's ``routes.main`` / ``get_config``)."""


class CachedPage:
    """One of gradio's page routes (``/`` or ``/config``), its response made once per root URL.

    ``original`` is gradio's endpoint function (called as FastAPI would, with no user: the app has
    no login); a request naming a page or a deep link (:data:`GRADIO_QUERY`) goes to it every time.
    Other query parameters are the page script's (a shared link's prompt and settings, ``lang``): gradio
    makes the same response with or without them, so a class opening a shared link is served from memory.
    """

    def __init__(self, app: Any, path: str, original: Callable[..., Response]):
        self.app = app
        self.path = path
        self.original = original
        self._made: dict[tuple[int, str], _Made] = {}  # (config id, root) -> the response's bytes
        self._lock = threading.Lock()

    def _root(self, request: Request) -> str:
        # What gradio's routes compute (route_utils.get_root_url), the only part of the response that
        # depends on the request when there are no query parameters and no login.
        blocks = self.app.get_blocks()
        root_path = self.app.root_path or request.scope.get("root_path") or blocks.custom_mount_path
        return route_utils.get_root_url(
            request=request, route_path="/" if self.path == "/" else "/config", root_path=root_path
        )

    def _call_original(self, request: Request) -> Response:
        query = request.query_params
        if self.path == "/":
            return self.original(
                request=request, user=None, page=query.get("page", ""), deep_link=query.get("deep_link", "")
            )
        return self.original(request=request, user=None, deep_link=query.get("deep_link", ""), page=query.get("page"))

    def _key(self, request: Request) -> tuple[int, str]:
        return id(self.app.get_blocks().config), self._root(request)

    def made(self, request: Request) -> _Made | Response:
        """The cached response for this request, made now if missing; gradio's own response when it
        is not a plain 200 or when :data:`CACHED_ROOTS` roots are held already (a client choosing its
        ``Host`` header must not grow the cache), sent as gradio made it and not kept."""
        key = self._key(request)
        made = self._made.get(key)
        if made is not None:
            return made
        response = self._call_original(request)
        body = getattr(response, "body", None)
        if response.status_code != 200 or not isinstance(body, bytes) or "set-cookie" in response.headers:
            return response
        with self._lock:
            if len(self._made) >= CACHED_ROOTS:
                return response
            content_type = response.headers.get("content-type") or response.media_type or ""
            made = self._made[key] = _Made(body, content_type)
        return made

    async def __call__(self, request: Request) -> Response:
        if any(name in request.query_params for name in GRADIO_QUERY):
            return await run_in_threadpool(self._call_original, request)
        made = self._made.get(self._key(request))
        if made is None:  # made in a worker thread, as gradio's own route runs: the event loop keeps serving
            made = await run_in_threadpool(self.made, request)
            if isinstance(made, Response):
                return made
        headers = {"content-type": made.content_type, "vary": "Accept-Encoding"}
        accepted = request.headers.get("accept-encoding", "")
        for encoding, body in made.encoded.items():
            if encoding in accepted:
                return Response(body, headers={**headers, "content-encoding": encoding})
        return Response(made.body, headers=headers)


def cache_page(demo: gr.Blocks) -> bool:
    """Serve the launched ``demo``'s ``/`` and ``/config`` through :class:`CachedPage` (see the module
    doc). Does nothing for an app with a login. Returns whether the routes were cached."""
    app = getattr(demo, "server_app", None)
    if app is None:
        raise RuntimeError("cache_page(demo) needs a launched demo: call demo.launch(...) first")
    if app.auth is not None or app.auth_dependency is not None:
        return False
    routes = app.router.routes
    originals = {
        route.path: route.endpoint
        for route in routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and CACHED_ROUTES.get(route.path) == getattr(route.endpoint, "__name__", None)
    }
    if set(originals) != set(CACHED_ROUTES):
        raise RuntimeError(f"gradio's page routes are not as expected: found {sorted(originals)}")
    for path, original in originals.items():
        # First in the list: Starlette answers with the first route that matches.
        cached = CachedPage(app, path, original)
        routes.insert(0, APIRoute(path, cached, methods=["GET"], include_in_schema=False))
    return True


def optimise_serving(demo: gr.Blocks, version: str | None = None) -> bool:
    """Apply the app's serving optimisations to the launched ``demo`` (lazy sessions, a 10 ms queue
    poll, the page and its config made once) when gradio is a tested version (``version`` defaults to
    the installed one); otherwise warn and leave gradio's defaults. Returns whether they were applied."""
    if not is_tested(version):
        warnings.warn(
            f"gradio {version or gr.__version__} is not one chargen's serving optimisations were tested on "
            f"({', '.join(TESTED_GRADIO)}): serving with gradio's defaults (chargen[app] installs a tested one)",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    install(demo)
    set_queue_poll(demo)
    cache_page(demo)
    return True


def limit_mcp_tools(demo: gr.Blocks, tools: Collection[str]) -> bool:
    """Offer only ``tools`` (by tool name) through the MCP server of ``demo``, launched with
    ``mcp_server=True``; every endpoint stays documented and callable. On an untested gradio, warns and
    leaves every documented endpoint a tool. Returns whether the tools were limited."""
    server = getattr(demo, "mcp_server_obj", None)  # gradio 6.31: made by App.create_app for mcp_server=True
    if server is None:
        raise RuntimeError("limit_mcp_tools(demo) needs a demo launched with mcp_server=True")
    if not is_tested():
        warnings.warn(
            f"gradio {gr.__version__}: every documented endpoint is an MCP tool (chargen[app] installs a tested one)",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    offered = server.tool_to_endpoint  # tool name -> endpoint, read by list_tools and call_tool
    missing = set(tools) - set(offered)
    if missing:
        raise ValueError(f"no endpoint makes the MCP tool(s) {', '.join(sorted(missing))}; tools: {', '.join(offered)}")
    server.tool_to_endpoint = {name: endpoint for name, endpoint in offered.items() if name in tools}
    return True


READY_ROUTE = "/chargen/ready"
"""The page's script asks here whether the models are loaded: ``{"ready": true}`` once they are."""
READY_POLL_S = 0.05
"""How often an async event that arrived before the models were loaded looks again (no thread waits for it)."""


def waiting(fn: Callable[..., Any], ready: threading.Event) -> Callable[..., Any]:
    """``fn`` run once ``ready`` is set: the same kind of function (sync or async, generator or not), with
    ``fn``'s name, docstring and signature, so gradio serves and describes it as ``fn``."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            while not ready.is_set():
                await asyncio.sleep(READY_POLL_S)
            async for update in fn(*args, **kwargs):
                yield update

    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            while not ready.is_set():
                await asyncio.sleep(READY_POLL_S)
            return await fn(*args, **kwargs)

    elif inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ready.wait()  # gradio runs a sync event in a worker thread
            yield from fn(*args, **kwargs)

    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ready.wait()
            return fn(*args, **kwargs)

    return wrapper


def wait_before_events(demo: gr.Blocks, ready: threading.Event) -> int:
    """Make every event of ``demo`` (built, not yet launched) wait until ``ready`` is set before it runs;
    returns how many events were wrapped. An event that arrives early waits, and never fails for it."""
    wrapped = 0
    for block_fn in demo.fns.values():  # gradio 6.31: Blocks.fns, id -> BlockFunction; .fn is called per event
        if block_fn.fn is not None:
            block_fn.fn = waiting(block_fn.fn, ready)
            wrapped += 1
    return wrapped


def ready_route(ready: threading.Event) -> APIRoute:
    """``GET`` :data:`READY_ROUTE`: ``{"ready": bool}``, whether ``ready`` is set. Given to ``demo.launch`` in
    ``app_kwargs={"routes": [...]}`` (gradio's public way to shape its FastAPI app), it answers from the
    server's first request on: added after launch, a page fetched in between would ask before it existed."""

    async def chargen_ready() -> Response:
        return JSONResponse({"ready": ready.is_set()}, headers={"Cache-Control": "no-store"})

    return APIRoute(READY_ROUTE, chargen_ready, methods=["GET"], include_in_schema=False)
