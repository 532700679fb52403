"""The app's "Generate" tab: the prompt, the sliders, greedy and sampled side by side.

:class:`Handlers` holds the tab's event handlers over the loaded models (tests call them without a
server); :class:`GenerateTab` renders the tab's components and wires their events, as gradio's own
``ChatInterface`` does. The page's script (``chargen/app/static``) draws the texts from the handlers'
outputs.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import gradio as gr

from chargen.app import i18n, page, train_views, views, widgets
from chargen.app.outlines import ModelOutline
from chargen.errors import ChargenError
from chargen.inference.originality import find_index, originality

# The page is served before torch is imported (chargen.app.demo.main): what needs torch is imported where used.
if TYPE_CHECKING:
    from chargen.inference.batching import ServingSettings
    from chargen.inference.originality import TrainingTextIndex
    from chargen.model import CharRNN

STREAM_INTERVAL_S = 0.25
"""Seconds between streamed updates of one generation. The server generates at full speed and the
browser animates what it has, so a few coalesced updates are enough; each update costs gradio
~10 ms of CPU (benchmarks/load_test.py)."""
STREAM_CHUNK = 16
"""Characters generated per step of the stream (~10 ms of work). One at a time paid the stream's
per-chunk bookkeeping 300 times a request: ~25% more server CPU in a 20-user burst."""
CONCURRENCY = 2
"""Generations running at once without batching: one per core of a 2-vCPU Space, each on one torch thread."""

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
        self.batching = batching
        self.engines: dict[str, Any] = {}
        self._indexes: dict[str, TrainingTextIndex | None] = {}
        self.pacer = None
        self.loaded = threading.Event()
        """Set once the models are loaded: at once for loaded models, else by :meth:`use_models`."""
        self._when_loaded: list[Callable[[], None]] = []
        if not any(isinstance(model.model, ModelOutline) for model in offered):
            self.use_models(offered)

    def use_models(self, loaded: Sequence[views.OfferedModel], batching: ServingSettings | None = None) -> None:
        """Serve ``loaded`` in place of the outlines the page was built from (``python app.py`` loads the
        models behind the page; ``batching``, if given, replaces the page's stand-in for its settings),
        then run what :meth:`when_loaded` was given and set :attr:`loaded`."""
        from chargen.model import CharRNN

        if batching is not None:
            self.batching = batching
        self.models.update({model.name: model for model in loaded if model.name in self.models})
        # One engine per offered network (threads chargen<i>-step / -prime); none without batching. An
        # n-gram model has no network to batch: it generates as a visitor's own model does.
        if self.batching is not None:
            self.engines = {
                model.name: self.batching.engine(model.model, f"chargen{i}")
                for i, model in enumerate(self.models.values())
                if isinstance(model.model, CharRNN)
            }
            self.pacer = self.batching.pacer()
        for callback in self._when_loaded:
            callback()
        self.loaded.set()

    def when_loaded(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the models are loaded (now, if they are): another tab's handlers take them then."""
        if self.loaded.is_set():
            callback()
        else:
            self._when_loaded.append(callback)

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
            model = self.models[name].model
            if isinstance(model, ModelOutline):  # loading it failed (python app.py logged why)
                raise _refuse(ChargenError(f"the {name} model could not be loaded"))
            return model
        return self.session_models.lookup(name, session, {})

    def _request(self, *inputs: Any, session: gr.Request | None = None) -> views.Request:
        try:
            return views.parse_request(*inputs, model_names=self._menu(session))
        except ChargenError as exc:
            raise _refuse(exc) from None

    def training_text_index(self, name: str, session: gr.Request | None = None) -> TrainingTextIndex | None:
        """The index of the text model ``name`` was trained on: an app model's folder's
        ``originality.safetensors`` (loaded on first use), or the one a model this session trained in the
        Train tab keeps; None when there is none."""
        offered = self.models.get(name)
        if offered is None:
            if self.session_models is None:
                return None
            try:
                return self.session_models.training_text_index(name, session)
            except ChargenError:
                return None
        if name not in self._indexes:
            folder = Path(offered.source) if offered.source else None
            self._indexes[name] = find_index(folder) if folder is not None and folder.is_dir() else None
        return self._indexes[name]

    def _outputs(
        self,
        request: views.Request,
        comparison: Any,
        stopped_at: int | None = None,
        session: gr.Request | None = None,
    ) -> Outputs:
        codes = views.prompt_notice_codes(request.prompt, comparison) if comparison.done else []
        notices = [views.said(code) for code in codes]
        data = views.page_data(request, comparison, notices, stopped_at=stopped_at, notice_codes=codes)
        index = self.training_text_index(request.model_name, session) if comparison.done else None
        if index is not None:  # how much of each text is copied from the training text (the last update only)
            data["originality"] = {
                "greedy": originality(comparison.greedy, index),
                "sampled": originality(comparison.sampled, index),
            }
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
        """Continue a prompt with a character-level language model twice, greedy and sampled, side by side.

        The greedy text always takes the likeliest next character (it often falls into a loop); the sampled
        text draws each character at the given temperature. The same seed and settings give the same texts.
        Streams a few updates; the last one holds the complete texts.

        Args:
            prompt: The start of the text to continue (up to 10,000 characters; may be empty).
            temperature: Sampling temperature, 0 to 2 (0 = greedy; low is safe, high is wild). Default 0.8.
            length: How many characters to generate, 10 to 2000. Default 300.
            top_k: Sample only from the k likeliest characters, 0 to 200 (0 = off). Default 0.
            top_p: Nucleus sampling: the likeliest characters holding this much probability, >0 to 1 (1 = off).
            seed: A whole number from 0 to 2**63 - 1 for a repeatable sampled text; blank for a random one.
            model_name: Which model writes: one of the app's model names (blank = the default model).

        Returns:
            The greedy text, the sampled text, the seed used, a sentence about any loop in the greedy text,
            notices about the prompt, and details as JSON (each sampled character's probability, the loop's
            start and period, where the texts part).
        """
        from chargen.inference.generate import stream_compare

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
            yield self._outputs(request, comparison, session=session)

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
        complete result. A visitor who leaves or presses Stop cancels the request in the engine.
        (The page's and MCP's ``generate`` tool carries :meth:`generate`'s docstring.)"""
        from chargen.inference.batching import stream_updates, visitor_of

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
                yield self._outputs(request, comparison, session=session)
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
        from chargen.inference.generate import Comparison, compare

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
            return self._outputs(replace(request, length=0), nothing, stopped_at=0, session=session)
        request = replace(request, length=shown)
        comparison = compare(self.model(request.model_name, session), request.prompt, shown, settings=request.sampling)
        return self._outputs(request, comparison, stopped_at=shown, session=session)

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
        """The model's next-character probabilities at one step of a text: every character (a word model's: every
        token), likeliest first, as [token, probability at the temperature, probability at temperature 1, drawn].

        Use it to see why a generated text went where it did: pass the prompt, the generated text and the
        position of a character in it.

        Args:
            prompt: The prompt the text was generated from (up to 10,000 characters).
            temperature: The temperature the text was sampled at, 0 to 2. Default 0.8.
            model_name: The model that wrote the text (blank = the default model).
            text: The generated text after the prompt (blank: the step right after the prompt).
            position: The index (from 0) in text of the character whose step to show; -1 = the step after text.
            top_k: The top-k the text was sampled with, 0 to 200 (0 = off). Default 0.
            top_p: The top-p the text was sampled with, above 0 and at most 1 (1 = off). Default 1.
            steps: Word models: characters per step, as /generate's greedy_steps (e.g. "3,1,4"); blank: re-read.

        Returns:
            The step's distribution as JSON: every token likeliest first, its probabilities, whether it was drawn.
        """
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
            return {"error": i18n.text("chart.error", message=exc.message)}

    def link_model(self, model_name: Any, session: gr.Request = None) -> tuple[Any, Any]:
        """A link's model checked on load: one this page may use stays; another session's model (or a name the
        app does not offer) becomes the default model, with a notice saying why."""
        menu = self._menu(session)
        try:
            menu.resolve(model_name)
            return gr.skip(), gr.skip()
        except ChargenError:
            default = menu.names[0]
            notice = views.notices_markdown([views.link_model_notice(str(model_name), default)])
            return default, gr.update(value=notice, visible=True)

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


def tool_named(name: str, fn: Callable[..., Any], doc: str | None = None) -> Callable[..., Any]:
    """``fn`` under the name ``name`` (and docstring ``doc``): an MCP tool is named after its handler's
    function, so the endpoint ``/generate`` is the tool ``generate`` whichever handler serves it. Keeps
    what gradio reads of ``fn``: its signature and whether it is a (sync or async) generator."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def tool(*args: Any, **kwargs: Any) -> Any:
            async for update in fn(*args, **kwargs):
                yield update

    elif inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def tool(*args: Any, **kwargs: Any) -> Any:
            yield from fn(*args, **kwargs)

    else:

        @functools.wraps(fn)
        def tool(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    tool.__name__ = tool.__qualname__ = name
    if doc is not None:
        tool.__doc__ = doc
    return tool


@dataclass(frozen=True)
class PageParts:
    """What another tab may use of the Generate tab: the handlers and the shared controls."""

    handlers: Handlers
    model: gr.Dropdown
    prompt: gr.Textbox
    temperature: gr.Slider


class GenerateTab:
    """The "Generate" tab: :meth:`render` adds its components inside the ``gr.Tab`` being built,
    :meth:`wire_events` connects them to :class:`Handlers` (``/generate``, ``/distribution`` and the
    page's private events) once every tab is rendered."""

    def __init__(self, handlers: Handlers, batching: ServingSettings | None = None) -> None:
        self.handlers = handlers
        self.batching = batching

    def render(self) -> None:
        """The prompt and buttons, the model and sliders, the lesson (both texts), the chart, and the
        hidden outputs the page's script reads."""
        names = self.handlers.model_names
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=280):
                self.prompt = widgets.prompt_box("prompt", placeholder=i18n.text("generate.prompt_placeholder"))
                with gr.Row():
                    self.generate_button = gr.Button(
                        i18n.text("generate.button"), variant="primary", elem_id="generate", scale=3
                    )
                    self.stop_button = gr.Button(
                        i18n.text("generate.stop"), variant="secondary", elem_id="stop", scale=1, min_width=70
                    )
                    self.continue_button = gr.Button(
                        i18n.text("generate.continue"), variant="secondary", elem_id="continue", scale=1, min_width=90
                    )
                self.notices_view = gr.Markdown(elem_id="notices", label=i18n.text("generate.notices"))
                # What the page's link asked for and could not have (kept apart: each generation redraws notices).
                self.link_notice = gr.Markdown(elem_id="link_notice", visible=False)
                self.example_buttons = []
                with gr.Row(elem_id="examples"):
                    for example, model_name in views.example_prompts(names):
                        button = gr.Button(
                            views.example_chip_label(example, model_name),
                            size="sm",
                            min_width=10,
                            scale=0,
                            elem_classes=["cg-example"],
                        )
                        self.example_buttons.append((button, example, model_name))
                # The texts under the prompt, the controls and the chart beside them: on a laptop both texts
                # start high enough to show a dozen lines, and a clicked character's chart sits next to them.
                gr.HTML(page.LESSON_HTML, js_on_load=None, elem_id="lesson_box")
            with gr.Column(scale=2, min_width=260):
                self.model = widgets.model_picker(names, "model")
                with gr.Row():
                    self.temperature = widgets.temperature_slider(
                        "temperature", info=i18n.text("generate.temperature_info"), min_width=160
                    )
                    self.length = widgets.length_slider(
                        "length",
                        label=i18n.text("generate.length"),
                        info=i18n.text("generate.length_info", low=views.APP_MIN_LENGTH, high=views.APP_MAX_LENGTH),
                        min_width=160,
                    )
                # Shown in words, sent as the mode's name (the page's script and its link read the name).
                playback = [(i18n.text(key), mode) for key, mode in page.PLAYBACK_KEYS.items()]
                self.playback = gr.Radio(
                    playback, value=page.PLAYBACK_MODES[0], label=i18n.text("generate.playback"), elem_id="playback"
                )
                with gr.Accordion(i18n.text("generate.advanced"), open=False, elem_id="advanced"):
                    self.top_k = gr.Slider(
                        0,
                        views.APP_MAX_TOP_K,
                        value=0,
                        step=1,
                        label=i18n.text("generate.top_k"),
                        info=i18n.text("generate.top_k_info"),
                        elem_id="top_k",
                    )
                    self.top_p = gr.Slider(
                        0.05,
                        1.0,
                        value=1.0,
                        step=0.05,
                        label=i18n.text("generate.top_p"),
                        info=i18n.text("generate.top_p_info"),
                        elem_id="top_p",
                    )
                    self.seed = widgets.seed_box("seed")
                gr.HTML(page.CHART_HTML, js_on_load=None, elem_id="chart_box")
        self.facts = gr.Markdown(self.handlers.header(names[0])[1], elem_id="model_facts")
        with gr.Group(elem_classes=["cg-hidden"]):
            # The API's outputs and the chart's inputs; the page shows them through its script.
            self.greedy_out = gr.Textbox(label="Greedy text", elem_id="greedy_text")
            self.sampled_out = gr.Textbox(label="Sampled text", elem_id="sampled_text")
            self.seed_out = gr.Textbox(label="Seed used", elem_id="seed_used")
            self.loop_out = gr.Textbox(label="Loop line", elem_id="loop_out")
            self.data_out = gr.JSON(label="Details: probabilities, loop, where the texts part", elem_id="details")
            self.text_in = gr.Textbox("", label="Text", elem_id="dist_text")
            self.position_in = gr.Number(-1, label="Position", precision=0, elem_id="dist_position")
            self.steps_in = gr.Textbox("", label="Steps (word models)", elem_id="dist_steps")
            self.chart_out = gr.JSON(label="Distribution", elem_id="dist_data")
            self.dist_go = gr.Button("chart", elem_id="dist_go")
            self.dist_api = gr.Button("distribution", elem_id="dist_api")
            self.seed_go = gr.Button("use seed", elem_id="seed_go")  # "Use this seed": the script's seed to the box

    def parts(self) -> PageParts:
        """The controls other tabs share with this one (one choice of model serves every tab)."""
        return PageParts(self.handlers, self.model, self.prompt, self.temperature)

    def wire_events(self, demo: gr.Blocks, header: gr.Markdown) -> None:
        """Connect the tab's events; ``header`` is the page's title line, which follows the model."""
        handlers = self.handlers
        inputs = [self.prompt, self.temperature, self.length, self.top_k, self.top_p, self.seed, self.model]
        outputs = [self.greedy_out, self.sampled_out, self.seed_out, self.loop_out, self.notices_view, self.data_out]
        # Batched, a handler is a coroutine waiting on the engine (no thread), so as many run as the
        # engine holds; unbatched, each is a thread with its own batch of 2.
        generate_fn, generate_group = (
            (handlers.generate_batched, {"concurrency_id": "generate", "concurrency_limit": self.batching.max_active})
            if self.batching is not None
            else (handlers.generate, {"concurrency_id": "model", "concurrency_limit": CONCURRENCY})
        )
        # The outputs leave the handler as sent (text, JSON-able data, notices as gr.Markdown would
        # clean them): gradio's postprocessing ran each of the 6 outputs of every update in a worker
        # thread, ~30% of the server's CPU in a 100-visitor burst (py-spy, benchmarks/load_test.py).
        generate_group["postprocess"] = False
        generation = self.generate_button.click(
            tool_named("generate", generate_fn, Handlers.generate.__doc__),
            inputs=inputs,
            outputs=outputs,
            js="(...args) => window.chargen.generateArgs(...args)",
            api_name="generate",
            **generate_group,
            show_progress="hidden",
            preprocess=False,  # every input is checked by views.parse_request, page or API alike
        )
        continuation = self.continue_button.click(
            generate_fn,
            inputs=inputs,
            outputs=outputs,
            js="(...args) => window.chargen.continueArgs(...args)",
            api_visibility="private",
            **generate_group,
            show_progress="hidden",
            preprocess=False,
        )
        for event in (generation, continuation):  # a refused request leaves the texts shown as they were
            event.failure(None, js="() => { window.chargen.refused(); }")
        self.stop_button.click(
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
        self.data_out.change(None, inputs=self.data_out, js="(d) => { window.chargen.receive(d); }")
        dist_inputs = [
            self.prompt,
            self.temperature,
            self.model,
            self.text_in,
            self.position_in,
            self.top_k,
            self.top_p,
            self.steps_in,
        ]
        self.dist_go.click(
            handlers.page_distribution,
            inputs=dist_inputs,
            outputs=self.chart_out,
            js="(...args) => window.chargen.distArgs(...args)",
            api_visibility="private",
            concurrency_id="chart",
            show_progress="hidden",
            preprocess=False,
            trigger_mode="always_last",
        )
        self.dist_api.click(
            handlers.distribution,
            inputs=dist_inputs,
            outputs=self.chart_out,
            api_name="distribution",
            concurrency_id="chart",
            show_progress="hidden",
            preprocess=False,
        )
        self.chart_out.change(None, inputs=self.chart_out, js="(d) => { window.chargen.drawChart(d); }")
        self.seed_go.click(None, outputs=self.seed, js="() => window.chargen.seedToUse()", api_visibility="private")
        self.prompt.change(None, js="() => { window.chargen.onPromptChange(); }")
        self.temperature.change(None, js="() => { window.chargen.onTemperatureChange(); }")
        self.model.change(
            handlers.header,
            inputs=self.model,
            outputs=[header, self.facts],
            api_visibility="private",
            queue=False,
            preprocess=False,  # a link's unknown name is not an error here: the header shows the default model
        )
        self.model.change(None, js="() => { window.chargen.onPromptChange(); }")
        # Only a visitor's own pick (.input, not .change): a link's or a chip's prompt is kept as it is. In the
        # browser, at once (no round trip whose answer could land on what the visitor types next).
        offers = json.dumps(views.example_offers(handlers.model_names)).replace("<", "\\u003c")
        self.model.input(
            None,
            inputs=[self.prompt, self.model],
            outputs=self.prompt,
            js=f"(prompt, model) => {{ const o = {offers}[model]; "
            "return o && o.replace.includes(prompt) ? o.offer : prompt; }",
        )
        for button, example, model_name in self.example_buttons:
            # A chip is a whole example: its prompt, its model, and the run (the texts shown stay the
            # example's, never an earlier run's under another model).
            button.click(
                lambda e=example, m=model_name: (e, m),
                outputs=[self.prompt, self.model],
                api_visibility="private",
                queue=False,
            ).then(None, js="() => { document.querySelector('#generate')?.click(); }")
        demo.load(
            None,
            inputs=[*inputs, self.playback],
            outputs=[*inputs, self.playback],
            js="(...args) => window.chargen.fromUrl(...args)",
        ).then(
            handlers.link_model,
            inputs=self.model,
            outputs=[self.model, self.link_notice],
            api_visibility="private",
            queue=False,
            preprocess=False,  # the link's name as it came, checked by the handler
            show_progress="hidden",
        ).then(None, js="() => { window.chargen.onPromptChange(); window.chargen.autoGenerate(); }")
