"""chargen's web app: greedy and sampled continuations of a prompt, side by side, one character at a time.

``python app.py`` serves it on http://127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``
change that), from any working directory. The models come from ``chargen-models.txt`` next to this
file (``python -m chargen deploy`` writes one into the Space), else ``CHARGEN_MODELS`` (comma-separated
folders or Hub repo ids; the first is the default), else the bundled ones (``views.BUNDLED_MODELS``,
found next to this file). Importing this file does no work: :func:`build_demo` builds the page from
loaded models and :func:`main` does the side effects (torch threads, loading, serving). The work
happens in ``chargen``; ``chargen.app.views`` makes what the page shows and ``chargen.app.page`` draws it.
"""

from __future__ import annotations

try:  # ZeroGPU Spaces: `spaces` must be imported before anything initialises CUDA; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    pass

import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import gradio as gr

from chargen.app import inside_tab, lazy_sessions, page, train_views, views
from chargen.errors import ChargenError
from chargen.hosting.space import configured_models
from chargen.hub import load_models
from chargen.inference.batching import ServingSettings, stream_updates, visitor_of
from chargen.inference.generate import Comparison, compare, stream_compare
from chargen.model import CharRNN

PROJECT_DIR = Path(__file__).resolve().parent
"""Where the bundled models are found: next to this file, whatever the working directory."""
QUEUE_SIZE = 32
"""Requests waiting beyond this are refused at once with "Queue is full" instead of timing out."""
CONCURRENCY = 2
"""Generations running at once: one per core of a 2-vCPU Space, each on one torch thread."""
TORCH_THREADS = 1
"""Per process. Two threads per request would fight the other request for the same two cores."""
STREAM_INTERVAL_S = 0.25
"""Seconds between streamed updates of one generation. The server generates at full speed and the
browser animates what it has, so a few coalesced updates are enough; each update costs gradio
~10 ms of CPU (benchmarks/load_test.py)."""
STREAM_CHUNK = 16
"""Characters generated per step of the stream (~10 ms of work). One at a time paid the stream's
per-chunk bookkeeping 300 times a request: ~25% more server CPU in a 20-user burst."""

QUEUE_POLL_S = 0.01
"""How often gradio's queue looks for a new event while it has none (gradio: 0.001 s, 0.05 s on Windows)."""

BATCHING = ServingSettings()
"""How ``python app.py`` serves /generate: every visitor's generation of a model stepped in one batch
by one engine thread (chargen.inference.batching), each handler a coroutine, no thread per request, updates
paced so their cost stays flat as visitors come. ``CHARGEN_BATCHING=0`` serves as before: a thread
and a batch of 2 per request, at most ``CONCURRENCY`` at once (benchmarks/load_test.py runs both)."""

Outputs = tuple[Any, ...]


def _refuse(exc: ChargenError) -> gr.Error:
    return gr.Error(str(exc), print_exception=False)


class Handlers:
    """The app's event handlers over its loaded models; tests call them directly."""

    def __init__(
        self,
        models: Mapping[str, CharRNN | views.OfferedModel] | Sequence[views.OfferedModel],
        session_models: train_views.SessionModels | None = None,
        batching: ServingSettings | None = None,
    ):
        self.session_models = session_models
        offered = offered_models(models)
        if not offered:
            raise ChargenError("the app needs at least one model")
        self.models = {model.name: model for model in offered}
        self.menu = views.ModelMenu.of(offered)
        # One engine per offered model (threads chargen<i>-step / -prime); none without batching.
        self.engines = (
            {model.name: batching.engine(model.model, f"chargen{i}") for i, model in enumerate(offered)}
            if batching is not None
            else {}
        )
        self.pacer = batching.pacer() if batching is not None else None

    @property
    def model_names(self) -> list[str]:
        """The short names of the offered models; the first is the default."""
        return list(self.menu.names)

    def _menu(self, session: gr.Request | None) -> views.ModelMenu:
        """The app's models plus, for a session that trained or uploaded some, its own."""
        if self.session_models is None:
            return self.menu
        return views.ModelMenu(tuple(self.session_models.names_for(session, self.menu.names)), self.menu.aliases)

    def model(self, name: str, session: gr.Request | None = None) -> CharRNN:
        """A checked model name's model: one of the app's, else one of the session's own."""
        if name in self.models or self.session_models is None:
            return self.models[name].model
        return self.session_models.lookup(name, session, {})

    def _request(self, *inputs: Any, session: gr.Request | None = None) -> views.Request:
        try:
            return views.parse_request(*inputs, model_names=self._menu(session))
        except ChargenError as exc:
            raise _refuse(exc) from None

    def _outputs(self, request: views.Request, comparison: Any, stopped_at: int | None = None) -> Outputs:
        notices = views.prompt_notices(request.prompt, comparison) if comparison.done else []
        data = views.page_data(request, comparison, notices, stopped_at=stopped_at)
        return (
            comparison.greedy,
            comparison.sampled,
            str(comparison.seed),
            data["loop_line"],
            inspect.cleandoc(views.notices_markdown(notices)),  # gr.Markdown's postprocess (see generate_group)
            data,
        )

    def generate(
        self,
        prompt: str,
        temperature: float = views.APP_DEFAULT_TEMPERATURE,
        length: int = views.APP_DEFAULT_LENGTH,
        top_k: int | None = 0,
        top_p: float | None = 1.0,
        seed: int | str | None = None,
        model_name: str | None = None,
        session: gr.Request = None,
    ) -> Iterator[Outputs]:
        """Stream the greedy and the sampled continuation of ``prompt`` as a few coalesced updates:
        (greedy, sampled, seed used, loop line, notices, page data); the last is complete."""
        request = self._request(prompt, temperature, length, top_k, top_p, seed, model_name, session=session)
        try:
            stream = stream_compare(
                self.model(request.model_name, session),
                request.prompt,
                request.length,
                chunk_size=STREAM_CHUNK,
                settings=request.sampling,
            )
        except ChargenError as exc:
            raise _refuse(exc) from None
        for comparison in views.throttle(stream, STREAM_INTERVAL_S):
            yield self._outputs(request, comparison)

    async def generate_batched(
        self,
        prompt: str,
        temperature: float = views.APP_DEFAULT_TEMPERATURE,
        length: int = views.APP_DEFAULT_LENGTH,
        top_k: int | None = 0,
        top_p: float | None = 1.0,
        seed: int | str | None = None,
        model_name: str | None = None,
        session: gr.Request = None,
    ) -> AsyncIterator[Outputs]:
        """:meth:`generate` through the model's batching engine: the same outputs and texts (identical
        to ``compare``'s for the seed), the first characters at once, then paced updates, then the
        complete result. A visitor who leaves or presses Stop cancels the request in the engine."""
        request = self._request(prompt, temperature, length, top_k, top_p, seed, model_name, session=session)
        engine = self.engines.get(request.model_name)
        if engine is None:  # a visitor's own model (Train tab): its own thread and batch, as unbatched
            updates = self.generate(prompt, temperature, length, top_k, top_p, seed, model_name, session)
            while (outputs := await anyio.to_thread.run_sync(next, updates, None)) is not None:
                yield outputs
            return
        address = session.client.host if session is not None and session.client is not None else None
        headers = getattr(session, "headers", None) if session is not None else None
        visitor = visitor_of(address, headers.get("x-forwarded-for") if headers is not None else None)
        try:
            job = engine.submit(
                request.prompt,
                request.length,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                seed=request.seed,
                visitor=visitor,
            )
            async for comparison in stream_updates(job, self.pacer):
                yield self._outputs(request, comparison)
        except ChargenError as exc:
            raise _refuse(exc) from None

    def stopped(
        self,
        prompt: str,
        temperature: float,
        shown: int,
        top_k: int | None,
        top_p: float | None,
        seed: int | str | None,
        model_name: str | None,
        session: gr.Request = None,
    ) -> Outputs:
        """What Stop leaves: the first ``shown`` characters of the run with this seed (the same seed
        at full length gives them as its prefix), with their loop line."""
        request = self._request(
            prompt, temperature, views.APP_MIN_LENGTH, top_k, top_p, seed, model_name, session=session
        )
        try:
            shown = int(shown)
        except (TypeError, ValueError):
            shown = 0
        shown = max(0, min(shown, views.APP_MAX_LENGTH))
        if shown == 0 or request.seed is None:  # stopped before anything was shown
            nothing = Comparison("", "", request.seed or 0, None, [], request.prompt, done=True)
            return self._outputs(replace(request, length=0), nothing, stopped_at=0)
        request = replace(request, length=shown)
        comparison = compare(self.model(request.model_name, session), request.prompt, shown, settings=request.sampling)
        return self._outputs(request, comparison, stopped_at=shown)

    def distribution(
        self,
        prompt: str,
        temperature: float = views.APP_DEFAULT_TEMPERATURE,
        model_name: str | None = None,
        text: str = "",
        position: int = -1,
        top_k: int | None = 0,
        top_p: float | None = 1.0,
        steps: str | None = "",
        session: gr.Request = None,
    ) -> dict[str, Any]:
        """The distribution of the step that wrote ``text[position]`` after ``prompt`` (-1: the next
        step after prompt + text): every character (a word model's: every token), likeliest first, as
        ``[token, p_at_T, p_at_1, drawn]``; ``p_at_T`` is after top-k / top-p, as sampling drew. For a
        word model, ``steps`` are the characters each step wrote (``/generate``'s ``greedy_steps`` /
        ``sampled_steps``, e.g. ``"3,1,4"``; a final ``+`` when the text was cut at its length), so the
        tokens generated are replayed; blank reads the text as the model tokenises it."""
        try:
            model = self.model(self._menu(session).resolve(model_name), session)
            prompt = views.check_prompt(prompt)
            temperature = views.check_temperature(temperature)
            text = views.check_text(text, model)
            position = views.check_position(position, text)
            top_k, top_p = views.check_top_k(top_k), views.check_top_p(top_p)
            written = views.check_steps(steps, text, model)
            return views.step_distribution(model, prompt, text, position, temperature, top_k, top_p, written)
        except ChargenError as exc:
            raise _refuse(exc) from None

    def page_distribution(
        self,
        prompt: str,
        temperature: float = views.APP_DEFAULT_TEMPERATURE,
        model_name: str | None = None,
        text: str = "",
        position: int = -1,
        top_k: int | None = 0,
        top_p: float | None = 1.0,
        steps: str | None = "",
        session: gr.Request = None,
    ) -> dict[str, Any]:
        """:meth:`distribution` for the page's own redraws, with the rows its chart draws: a problem is
        shown in the chart, never as a pop-up from an event the visitor did not trigger."""
        try:
            data = self.distribution(prompt, temperature, model_name, text, position, top_k, top_p, steps, session)
            return views.chart_rows(data, page.CHART_ROWS)
        except gr.Error as exc:
            return {"error": f"The chart can't be drawn: {exc.message}"}

    def header(self, model_name: str | None = None, session: gr.Request = None) -> tuple[str, str]:
        """The page's title line for the selected model, and the model's facts from its card."""
        try:
            name = self._menu(session).resolve(model_name)
            offered = self.models.get(name) or self.session_models.offered(name, session)
        except ChargenError:
            offered = self.models[self.menu.names[0]]
        return views.header_markdown(offered), views.facts_markdown(offered)


def offered_models(
    models: Mapping[str, CharRNN | views.OfferedModel] | Sequence[views.OfferedModel],
) -> list[views.OfferedModel]:
    """The models as the app offers them; plain models get their key as name and source."""
    if not isinstance(models, Mapping):
        return list(models)
    return [
        model if isinstance(model, views.OfferedModel) else views.OfferedModel(name, model, source=name)
        for name, model in models.items()
    ]


@dataclass(frozen=True)
class PageParts:
    """What a tab added to the page may use: the handlers and the shared controls."""

    handlers: Handlers
    model: gr.Dropdown
    prompt: gr.Textbox
    temperature: gr.Slider


TabBuilder = Callable[[PageParts], None]
"""Adds one tab's components and events; called inside its ``gr.Tab``."""
TABS: list[tuple[str, TabBuilder]] = [("Look inside", inside_tab.page_tab)]
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
    names = handlers.model_names
    extra_tabs = [*(TABS if tabs is None else tabs), ("Train", train_views.train_tab(session_models, train_settings))]
    header_text, facts_text = handlers.header(names[0])
    with gr.Blocks(title="chargen: greedy vs. sampled") as demo:
        header = gr.Markdown(header_text, elem_id="header")
        gr.Markdown(views.notices_markdown(notices), elem_id="startup-notices", visible=bool(notices))
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Generate", elem_id="generate_tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=280):
                        prompt = gr.Textbox(
                            value=views.APP_DEFAULT_PROMPT,
                            label="Prompt",
                            lines=2,
                            max_lines=8,
                            max_length=views.APP_MAX_PROMPT,
                            placeholder="Type the start of a text; the model continues it.",
                            elem_id="prompt",
                        )
                        with gr.Row():
                            generate_button = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                            stop_button = gr.Button("Stop", variant="secondary", elem_id="stop", scale=1, min_width=70)
                            continue_button = gr.Button(
                                "Continue", variant="secondary", elem_id="continue", scale=1, min_width=90
                            )
                        notices_view = gr.Markdown(elem_id="notices", label="Notices")
                        example_buttons = []
                        with gr.Row(elem_id="examples"):
                            for example, model_name in views.example_prompts(names):
                                shown = "".join(views.WHITESPACE_MARKERS.get(ch, ch) for ch in example)
                                button = gr.Button(
                                    shown if len(shown) <= 28 else shown[:27] + "\u2026",
                                    size="sm",
                                    min_width=10,
                                    scale=0,
                                    elem_classes=["cg-example"],
                                )
                                example_buttons.append((button, example, model_name))
                    with gr.Column(scale=2, min_width=260):
                        model = gr.Dropdown(
                            choices=names,
                            value=names[0],
                            label="Model",
                            visible=len(names) > 1,
                            elem_id="model",
                        )
                        with gr.Row():
                            temperature = gr.Slider(
                                views.APP_MIN_TEMPERATURE,
                                views.APP_MAX_TEMPERATURE,
                                value=views.APP_DEFAULT_TEMPERATURE,
                                step=0.05,
                                label="Temperature",
                                info="0 = greedy; low is safe, high is wild",
                                elem_id="temperature",
                                min_width=160,
                            )
                            length = gr.Slider(
                                views.APP_MIN_LENGTH,
                                views.APP_MAX_LENGTH,
                                value=views.APP_DEFAULT_LENGTH,
                                step=1,
                                label="Characters",
                                info=f"{views.APP_MIN_LENGTH} to {views.APP_MAX_LENGTH}",
                                elem_id="length",
                                min_width=160,
                            )
                        playback = gr.Radio(
                            list(page.PLAYBACK_MODES),
                            value=page.PLAYBACK_MODES[0],
                            label="Playback",
                            elem_id="playback",
                        )
                        with gr.Accordion("Advanced sampling", open=False, elem_id="advanced"):
                            top_k = gr.Slider(
                                0, views.APP_MAX_TOP_K, value=0, step=1, label="Top-k", info="0 = off", elem_id="top_k"
                            )
                            top_p = gr.Slider(
                                0.05, 1.0, value=1.0, step=0.05, label="Top-p", info="nucleus; 1 = off", elem_id="top_p"
                            )
                            seed = gr.Textbox(
                                label="Seed",
                                placeholder="blank = random",
                                max_length=views.APP_MAX_SEED_CHARS,
                                elem_id="seed",
                            )
                gr.HTML(page.LESSON_HTML, js_on_load=None, elem_id="lesson_box")
                gr.HTML(page.CHART_HTML, js_on_load=None, elem_id="chart_box")
                facts = gr.Markdown(facts_text, elem_id="model_facts")
                with gr.Group(elem_classes=["cg-hidden"]):
                    # The API's outputs and the chart's inputs; the page shows them through its script.
                    greedy_out = gr.Textbox(label="Greedy text", elem_id="greedy_text")
                    sampled_out = gr.Textbox(label="Sampled text", elem_id="sampled_text")
                    seed_out = gr.Textbox(label="Seed used", elem_id="seed_used")
                    loop_out = gr.Textbox(label="Loop line", elem_id="loop_out")
                    data_out = gr.JSON(label="Details: probabilities, loop, where the texts part", elem_id="details")
                    text_in = gr.Textbox("", label="Text", elem_id="dist_text")
                    position_in = gr.Number(-1, label="Position", precision=0, elem_id="dist_position")
                    steps_in = gr.Textbox("", label="Steps (word models)", elem_id="dist_steps")
                    chart_out = gr.JSON(label="Distribution", elem_id="dist_data")
                    dist_go = gr.Button("chart", elem_id="dist_go")
                    dist_api = gr.Button("distribution", elem_id="dist_api")
            for title, add_tab in extra_tabs:
                with gr.Tab(title):
                    add_tab(PageParts(handlers, model, prompt, temperature))

        inputs = [prompt, temperature, length, top_k, top_p, seed, model]
        outputs = [greedy_out, sampled_out, seed_out, loop_out, notices_view, data_out]
        # Batched, a handler is a coroutine waiting on the engine (no thread), so as many run as the
        # engine holds; unbatched, each is a thread with its own batch of 2.
        generate_fn, generate_group = (
            (handlers.generate_batched, {"concurrency_id": "generate", "concurrency_limit": batching.max_active})
            if batching is not None
            else (handlers.generate, {"concurrency_id": "model", "concurrency_limit": CONCURRENCY})
        )
        # The outputs leave the handler as sent (text, JSON-able data, notices as gr.Markdown would
        # clean them): gradio's postprocessing ran each of the 6 outputs of every update in a worker
        # thread, ~30% of the server's CPU in a 100-visitor burst (py-spy, benchmarks/load_test.py).
        generate_group["postprocess"] = False
        generation = generate_button.click(
            generate_fn,
            inputs=inputs,
            outputs=outputs,
            js="(...args) => window.chargen.generateArgs(...args)",
            api_name="generate",
            **generate_group,
            show_progress="hidden",
            preprocess=False,  # every input is checked by views.parse_request, page or API alike
        )
        continuation = continue_button.click(
            generate_fn,
            inputs=inputs,
            outputs=outputs,
            js="(...args) => window.chargen.continueArgs(...args)",
            api_visibility="private",
            **generate_group,
            show_progress="hidden",
            preprocess=False,
        )
        stop_button.click(
            handlers.stopped,
            inputs=inputs,
            outputs=outputs,
            js="(...args) => window.chargen.stopArgs(...args)",
            cancels=[generation, continuation],
            api_visibility="private",
            concurrency_id="stop",
            show_progress="hidden",
            preprocess=False,
        )
        data_out.change(None, inputs=data_out, js="(d) => { window.chargen.receive(d); }")
        dist_inputs = [prompt, temperature, model, text_in, position_in, top_k, top_p, steps_in]
        dist_go.click(
            handlers.page_distribution,
            inputs=dist_inputs,
            outputs=chart_out,
            js="(...args) => window.chargen.distArgs(...args)",
            api_visibility="private",
            concurrency_id="chart",
            show_progress="hidden",
            preprocess=False,
            trigger_mode="always_last",
        )
        dist_api.click(
            handlers.distribution,
            inputs=dist_inputs,
            outputs=chart_out,
            api_name="distribution",
            concurrency_id="chart",
            show_progress="hidden",
            preprocess=False,
        )
        chart_out.change(None, inputs=chart_out, js="(d) => { window.chargen.drawChart(d); }")
        prompt.change(None, js="() => { window.chargen.onPromptChange(); }")
        temperature.change(None, js="() => { window.chargen.onTemperatureChange(); }")
        model.change(handlers.header, inputs=model, outputs=[header, facts], api_visibility="private", queue=False)
        model.change(None, js="() => { window.chargen.onPromptChange(); }")
        for button, example, model_name in example_buttons:
            button.click(
                lambda e=example, m=model_name: (e, m), outputs=[prompt, model], api_visibility="private", queue=False
            )
        demo.load(
            None,
            inputs=[*inputs, playback],
            outputs=[*inputs, playback],
            js="(...args) => window.chargen.fromUrl(...args)",
        ).then(None, js="() => { window.chargen.onPromptChange(); window.chargen.autoGenerate(); }")
    # Batched, a burst of visitors runs at once instead of waiting, but each page then asks for its
    # chart (2 at a time): the queue holds a burst of those too.
    queue_size = QUEUE_SIZE if batching is None else max(QUEUE_SIZE, batching.max_active)
    demo.queue(max_size=queue_size, default_concurrency_limit=CONCURRENCY)
    return demo


def launch_options() -> dict[str, Any]:
    """What ``demo.launch`` needs for the page to look and work as built: its CSS and script."""
    return {"css": page.CSS, "head": page.HEAD}


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


def main() -> None:
    """Load the models and serve the page (answering first: the warm-up doesn't delay the page)."""
    views.set_torch_threads(TORCH_THREADS)
    models, notices = load_app_models(configured_models(PROJECT_DIR, os.environ))
    batching = None if os.environ.get("CHARGEN_BATCHING", "1") == "0" else BATCHING
    demo = build_demo(models, notices, batching=batching)
    # Gradio's queue runs at most max_threads events at once (default 40), whatever their concurrency
    # limits: batched, generations are coroutines, so let in every one the engine holds, plus the 40.
    max_threads = 40 if batching is None else batching.max_active + 40
    demo.launch(prevent_thread_lock=True, max_threads=max_threads, **launch_options())
    lazy_sessions.install(demo)  # a new visitor's session no longer builds every block's config
    # Gradio's queue looks for events every 1 ms while none can start (sleep_when_free): 1,000 wake-ups
    # a second of the event loop, which then takes the GIL from the engine. Every 10 ms is enough.
    demo._queue.sleep_when_free = QUEUE_POLL_S
    warm_up(models)
    demo.block_thread()


if __name__ == "__main__":
    main()
