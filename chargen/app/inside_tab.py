"""The app's "Look inside" tab: every temperature at once, what the model expected, cells, beam search.

:class:`InsideTab` renders the tab's four views and wires their events, with five API endpoints
(``/sweep``, ``/samples``, ``/expectations``, ``/cells``, ``/beam``); :class:`InsideHandlers` holds the
handlers, which tests call without a server. Each endpoint answers one JSON value; the page draws its
components from that value in a second, private step, so the page and the API always show the same
answer. The work is in :mod:`chargen.inference.inside`, the checks and displayed values in
:mod:`chargen.app.inside_views`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from chargen.app import inside_views as iv
from chargen.app import widgets
from chargen.app.i18n import text
from chargen.errors import ChargenError

if TYPE_CHECKING:  # the page is served before torch is imported (chargen.app.demo.main)
    from chargen.model import CharRNN

TEXT_VIEW_CSS = """<style>
/* The texts coloured per character read as text: one flowing block in a monospace font, line breaks
   kept, no gaps between characters (HighlightedText spaces its tokens out as separate chips, and puts a
   space after each token's text: a word spacing of -1ch takes that space back). */
#expect_view .textfield, #unit_view .textfield { display: block; font-family: ui-monospace, monospace;
  line-height: 1.7; max-height: 32rem; overflow-y: auto; word-break: normal; }
#expect_view .token-container, #unit_view .token-container { display: inline; }
#expect_view .token, #unit_view .token { margin: 0 !important; padding: 1px 0 !important; border-radius: 0;
  word-spacing: -1ch; }
#expect_view .token .text, #unit_view .token .text { word-spacing: normal; }
</style>"""
"""Page CSS for the coloured texts, carried by the views' own intro (a ``gr.HTML``)."""

INTRO = "<p>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text("inside.intro")) + "</p>"
"""The tab's opening paragraph: the catalogue's words, their **bold** as HTML (the page matches them as Markdown's)."""
MODEL_NOTE = "<p>" + text("inside.model_note") + "</p>"
ADAPT_COLORS = {iv.ADAPT_AS_TRAINED: "#4c78a8", iv.ADAPT_ADAPTING: "#f58518"}
"""Fixed colours, so the plot's label can name them (a line plot's own legend falls outside its box)."""


def kind_choices(kinds: Any) -> list[tuple[str, str]]:
    """The state radio's choices: each kind in the catalogue's words, its value as the API names it."""
    return [(iv.kind_name(kind), kind) for kind in kinds]


def _checked(work: Callable[..., Any]) -> Callable[..., Any]:
    """``work`` with chargen's input errors shown as a ``gr.Error`` (a message, no traceback)."""

    @functools.wraps(work)  # keeps the signature: the API names its inputs after the parameters
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return work(*args, **kwargs)
        except ChargenError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return run


class InsideHandlers:
    """The Look inside tab's handlers over the app's models (plus, with ``session_models``, the models a
    visitor trained or uploaded in their own session, found through the event's ``gr.Request``).

    The endpoint handlers are named as the API shows them; their parameters are the endpoint's inputs.
    The ``draw_*`` / ``pick_*`` methods turn an endpoint's JSON answer into the page's components.
    """

    def __init__(
        self,
        models: Mapping[str, CharRNN],
        session_models: Any = None,
        adapt_lrs: Mapping[str, float] | None = None,
    ) -> None:
        self.models = dict(models)
        self.names = list(models)
        self.session_models = session_models
        self.adapt_lrs = dict(adapt_lrs or {})  # a model's stored learning rate for reading while adapting

    def models_for(self, request: gr.Request | None) -> Mapping[str, CharRNN]:
        """The models this caller may use: the app's, then their own session's."""
        if self.session_models is None:
            return self.models
        return self.session_models.current(self.models, request)

    def sweep(
        self, prompt: str, length: int, temperatures: str, seed: str, model_name: str, request: gr.Request = None
    ) -> list[dict[str, object]]:
        """Continue one prompt at several temperatures at once, from the same primed state and seed, to see
        how the temperature changes a character-level model's text (0 = greedy, the likeliest character).

        Args:
            prompt: The start of the text to continue (up to 10,000 characters; may be empty).
            length: How many characters each continuation has, 10 to 2000.
            temperatures: Up to 8 temperatures from 0 to 2, separated by commas, e.g. "0, 0.5, 1, 1.5".
            seed: A whole number from 0 to 2**63 - 1 for repeatable texts; blank for a random one.
            model_name: Which model writes (blank = the default model).

        Returns:
            One entry per temperature: its text, seed, temperature and a sentence about any loop.
        """
        return iv.sweep_answer(self.models_for(request), prompt, length, temperatures, seed, model_name)

    def samples(
        self,
        prompt: str,
        length: int,
        temperature: float,
        count: int,
        seed: str,
        model_name: str,
        request: gr.Request = None,
    ) -> list[dict[str, object]]:
        """``count`` samples at one temperature, with seeds seed, seed + 1, ..."""
        return iv.samples_answer(self.models_for(request), prompt, length, temperature, count, seed, model_name)

    def expectations(self, text: str, model_name: str, request: gr.Request = None) -> list[dict[str, object]]:
        """What a character-level model expected at each character of a text: per character (a word model:
        per token) after the first, the probability the model gave it (at temperature 1) and its top 5 guesses.

        Args:
            text: The text to read, 2 to 2000 characters (paste one, or a prompt and its continuation).
            model_name: Which model reads (blank = the default model).

        Returns:
            One entry per character after the first: the character, its probability, and the top 5 guesses.
        """
        return iv.expectations_answer(self.models_for(request), text, model_name)

    def cells(self, text: str, model_name: str, request: gr.Request = None) -> list[dict[str, object]]:
        """Units ranked by |correlation| with simple properties of the text, best first."""
        return iv.cells_answer(self.models_for(request), text, model_name)

    def beam(
        self, prompt: str, length: int, width: int, model_name: str, request: gr.Request = None
    ) -> dict[str, object]:
        """The likeliest continuation a beam of this width finds, its log-probability and loop line."""
        return iv.beam_answer(self.models_for(request), prompt, length, width, model_name)

    def adapt(self, text: str, model_name: str, request: gr.Request = None) -> dict[str, object]:
        """How the loss falls as the model reads a text, as trained and adapting a copy of itself after every
        50 characters (dynamic evaluation): the running mean loss of each, in nats per character."""
        return iv.adapt_answer(self.models_for(request), text, model_name, self.adapt_lrs)

    def colour_by_unit(
        self, text: str, model_name: str, layer: Any, kind: Any, unit: Any, request: gr.Request = None
    ) -> tuple[Any, str]:
        """The text coloured by one unit's value after each step, and a line saying what it shows."""
        return iv.unit_highlights(self.models_for(request), text, model_name, layer, kind, unit)

    # --- the page's private steps: draw components from an endpoint's answer ---

    def draw_sweep(self, answer: list[dict[str, Any]] | None) -> list[Any]:
        """One text box per continuation (the rest hidden), and the link to "What it expected"."""
        answer = answer or []
        updates = []
        for i in range(iv.MAX_SWEEP_TEMPERATURES):
            if i < len(answer):
                entry = answer[i]
                updates.append(
                    gr.update(visible=True, value=entry["text"], label=iv.entry_label(entry), info=iv.entry_info(entry))
                )
            else:
                updates.append(gr.update(visible=False, value=""))
        return [*updates, gr.update(visible=bool(answer))]

    def open_in_expectations(
        self, prompt: str, answer: list[dict[str, Any]] | None, model_name: str, request: gr.Request = None
    ) -> tuple[Any, Any]:
        """The prompt and the first continuation, as the text of "What it expected", and that view opened."""
        continued = _checked(iv.continuation_text)(self.models_for(request), prompt, answer or [], model_name)
        return continued, gr.Tabs(selected="inside_expectations")

    def unit_of(self, model_name: str, request: gr.Request | None = None) -> str:
        """The picked model's unit: what one step of the views is (a character, or a word model's token)."""
        chosen = self.models_for(request).get(model_name)
        return chosen.unit if chosen is not None else "char"

    def draw_expectations(
        self, text: str, answer: list[dict[str, Any]] | None, model_name: str, request: gr.Request = None
    ) -> tuple[Any, ...]:
        """The text shaded by surprise and the summary line; the guesses panel cleared."""
        answer = answer or []
        summary = iv.expectations_summary(answer, self.unit_of(model_name, request))
        return iv.expectation_highlights(text, answer), summary, None, ""

    def pick_character(
        self,
        answer: list[dict[str, Any]] | None,
        model_name: str,
        event: gr.SelectData,
        request: gr.Request = None,
    ) -> tuple[Any, str]:
        """The clicked character's top guesses and its line."""
        index = event.index if isinstance(event.index, int) else event.index[0]
        top, line = iv.guesses(answer or [], int(index), self.unit_of(model_name, request))
        return top or None, line

    def draw_cells(
        self, text_value: str, model_name: str, answer: list[dict[str, Any]] | None, request: gr.Request = None
    ) -> tuple[Any, ...]:
        """The table of units, and the text coloured by the best one."""
        answer = answer or []
        rows = iv.cells_rows(answer)
        if not answer:
            return rows, gr.skip(), gr.skip(), gr.skip(), [], text("inside.cells.none")
        best = answer[0]
        pairs, line = _checked(iv.unit_highlights)(
            self.models_for(request),
            text_value,
            model_name,
            best["layer"],
            best["kind"],
            best["unit"],
            match=best["property"],
            r=float(best["r"]),
            best=True,
        )
        return rows, best["layer"], best["kind"], best["unit"], pairs, line

    def pick_row(
        self, rows: Any, text_value: str, model_name: str, event: gr.SelectData, request: gr.Request = None
    ) -> tuple[Any, ...]:
        """The clicked row's unit, and the text coloured by it."""
        data = rows.get("data", []) if isinstance(rows, dict) else list(getattr(rows, "values", rows).tolist())
        row = data[event.index[0]]
        layer, kind, unit, name, r = row[:5]
        pairs, line = _checked(iv.unit_highlights)(
            self.models_for(request), text_value, model_name, layer, kind, unit, match=name, r=float(r)
        )
        return int(layer), kind, int(unit), pairs, line

    def draw_adapt(self, answer: dict[str, Any] | None) -> tuple[Any, str]:
        """The two curves and the line under them."""
        return iv.adapt_rows(answer), iv.adapt_summary(answer)

    def draw_beam(self, answer: dict[str, Any] | None) -> tuple[str, str]:
        """The beam's text and its summary line."""
        if not answer:
            return "", ""
        return str(answer["text"]), iv.beam_summary(answer, len(str(answer["text"])))

    def model_changed(
        self, model_name: str, expect_value: str, cells_value: str, request: gr.Request = None
    ) -> tuple[Any, ...]:
        """A new model: its own starting text where the old default was untouched, its unit range."""
        models = self.models_for(request)
        defaults = {iv.default_text(name) for name in self.names}
        new_text = iv.default_text(model_name) if model_name in models else None

        def follow(current: str) -> Any:
            return new_text if new_text is not None and current in defaults else gr.skip()

        chosen = models.get(model_name)
        kinds = ["hidden", "cell"] if chosen is not None and chosen.cell == "lstm" else ["hidden"]
        # An n-gram model has no units (its cells view refuses it): no bound to follow.
        unit_max = getattr(chosen.config, "hidden_size", 1) - 1 if chosen is not None else None
        return (
            follow(expect_value),
            follow(cells_value),
            gr.update(choices=kind_choices(kinds), value="hidden"),
            gr.update(maximum=unit_max),
        )


class InsideTab:
    """The "Look inside" tab: :meth:`render` adds the four views inside the ``gr.Tab`` being built,
    :meth:`wire_events` connects them to an :class:`InsideHandlers`.

    Args:
        handlers: The views' handlers (the app's models; the first is the default).
        model: The page's model picker, if it has one; otherwise the views get their own.
        intro: The HTML paragraph above the views.
        concurrency_limit: How many of these computations run at once (shared with ``concurrency_id``).
        concurrency_id: The queue these events share with the app's other model work.
    """

    def __init__(
        self,
        handlers: InsideHandlers,
        model: gr.Dropdown | None = None,
        intro: str = INTRO,
        concurrency_limit: int = 2,
        concurrency_id: str = "model",
    ) -> None:
        self.handlers = handlers
        self.model = model
        self.intro = intro
        self.concurrency_limit = concurrency_limit
        self.concurrency_id = concurrency_id

    @classmethod
    def add_to_page(cls, parts: Any) -> InsideTab:
        """The tab as :data:`chargen.app.demo.TABS` takes it: built inside its ``gr.Tab`` from the Generate
        tab's parts (its handlers' models and session models, and the page's model picker, so one choice
        of model serves every tab)."""
        models = {name: offered.model for name, offered in parts.handlers.models.items()}
        handlers = InsideHandlers(models, getattr(parts.handlers, "session_models", None))

        def take_models() -> None:  # python app.py loads the models behind the page: the tab takes them then
            from chargen.training.dynamic_eval import stored_lr

            handlers.models.update({name: offered.model for name, offered in parts.handlers.models.items()})
            handlers.adapt_lrs.update(
                {
                    name: lr
                    for name, offered in parts.handlers.models.items()
                    if offered.source
                    and Path(offered.source).is_dir()
                    and (lr := stored_lr(offered.source)) is not None
                }
            )

        parts.handlers.when_loaded(take_models)
        tab = cls(handlers, model=parts.model, intro=INTRO + MODEL_NOTE)
        tab.render()
        tab.wire_events()
        return tab

    def render(self) -> None:
        """The intro and the four views, each a sub-tab with its inputs, its drawn answer and its JSON."""
        names = self.handlers.names
        first = names[0]
        gr.HTML(self.intro + TEXT_VIEW_CSS, elem_id="inside_intro")
        if self.model is None:
            self.model = widgets.model_picker(names, "inside_model")
        with gr.Tabs() as self.views_tabs:
            with gr.Tab(text("inside.tab.sweep"), id="inside_sweep"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        self.sweep_prompt = widgets.prompt_box("sweep_prompt")
                        self.sweep_temperatures = gr.Textbox(
                            value=iv.DEFAULT_SWEEP_TEMPERATURES,
                            label=text("inside.sweep.temperatures", count=iv.MAX_SWEEP_TEMPERATURES),
                            max_length=200,
                            elem_id="sweep_temperatures",
                        )
                    with gr.Column(scale=2):
                        self.sweep_length = widgets.length_slider("sweep_length")
                        self.sweep_seed = widgets.seed_box("sweep_seed", value="")
                with gr.Row():
                    self.sweep_button = gr.Button(text("inside.sweep.button"), variant="primary", elem_id="sweep")
                with gr.Row(equal_height=True):
                    self.samples_temperature = widgets.temperature_slider(
                        "samples_temperature", label=text("inside.samples.temperature")
                    )
                    self.samples_count = gr.Slider(
                        iv.MIN_SAMPLES,
                        iv.MAX_SAMPLES,
                        value=iv.DEFAULT_SAMPLES,
                        step=1,
                        label=text("inside.samples.count"),
                        elem_id="samples_count",
                    )
                    self.samples_button = gr.Button(
                        text("inside.samples.button"), elem_id="samples", scale=0, min_width=120
                    )
                self.sweep_boxes = []
                for row in range(0, iv.MAX_SWEEP_TEMPERATURES, 2):
                    with gr.Row(equal_height=False):
                        for i in (row, row + 1):
                            self.sweep_boxes.append(
                                gr.Textbox(
                                    lines=6,
                                    max_lines=12,
                                    interactive=False,
                                    visible=False,
                                    buttons=["copy"],
                                    min_width=300,  # one per line on a phone
                                    elem_id=f"sweep_text_{i}",
                                )
                            )
                self.to_expectations = gr.Button(
                    text("inside.sweep.to_expect"), size="sm", visible=False, elem_id="sweep_to_expect"
                )
                with gr.Accordion(text("inside.sweep.json_title"), open=False):
                    self.sweep_json = gr.JSON(label=text("inside.sweep.json_label"), elem_id="sweep_json")

            with gr.Tab(text("inside.tab.expect"), id="inside_expectations"):
                self.expect_text = gr.Textbox(
                    value=iv.default_text(first),
                    label=text("inside.expect.text_label", limit=f"{iv.MAX_TEXT:,}"),
                    lines=6,
                    max_lines=14,
                    max_length=iv.MAX_TEXT,
                    elem_id="expect_text",
                )
                self.expect_button = gr.Button(text("inside.expect.button"), variant="primary", elem_id="expect")
                self.expect_summary = gr.Markdown(elem_id="expect_summary")
                with gr.Row(equal_height=False):
                    self.expect_view = gr.HighlightedText(
                        label=text("inside.expect.view_label"),
                        show_legend=False,
                        show_inline_category=False,
                        interactive=False,
                        scale=3,
                        elem_id="expect_view",
                    )
                    with gr.Column(scale=1, min_width=220):
                        self.expect_line = gr.Markdown(elem_id="expect_line")
                        self.expect_top = gr.Label(
                            label=text("inside.expect.top_label"), num_top_classes=5, elem_id="expect_top"
                        )
                with gr.Accordion(text("inside.expect.json_title"), open=False):
                    self.expect_json = gr.JSON(label=text("inside.expect.json_label"), elem_id="expect_json")

            with gr.Tab(text("inside.tab.cells"), id="inside_cells"):
                self.cells_text = gr.Textbox(
                    value=iv.default_text(first),
                    label=text("inside.cells.text_label", limit=f"{iv.MAX_TEXT:,}"),
                    lines=6,
                    max_lines=14,
                    max_length=iv.MAX_TEXT,
                    elem_id="cells_text",
                )
                self.cells_button = gr.Button(text("inside.cells.button"), variant="primary", elem_id="cells")
                self.cells_table = gr.Dataframe(
                    headers=[
                        text("inside.cells.layer"),
                        text("inside.cells.kind"),
                        text("inside.cells.unit"),
                        text("inside.cells.property"),
                        text("inside.cells.r"),
                    ],
                    datatype=["number", "str", "number", "str", "number"],
                    label=text("inside.cells.table_label"),
                    interactive=False,
                    max_height=320,
                    elem_id="cells_table",
                )
                with gr.Row(equal_height=True):
                    first_model = self.handlers.models[first]
                    self.unit_layer = gr.Number(
                        value=0,
                        minimum=0,
                        maximum=getattr(first_model.config, "num_layers", 1) - 1,  # an n-gram model: none
                        precision=0,
                        label=text("inside.unit.layer"),
                        elem_id="unit_layer",
                    )
                    self.unit_kind = gr.Radio(
                        kind_choices(iv.CELL_KINDS if first_model.cell == "lstm" else iv.CELL_KINDS[:1]),
                        value="hidden",
                        label=text("inside.unit.state"),
                        elem_id="unit_kind",
                    )
                    self.unit_number = gr.Number(
                        value=0,
                        minimum=0,
                        maximum=getattr(first_model.config, "hidden_size", 1) - 1,
                        precision=0,
                        label=text("inside.unit.unit"),
                        elem_id="unit_number",
                    )
                    self.unit_button = gr.Button(text("inside.unit.button"), elem_id="unit_show")
                self.unit_line = gr.Markdown(elem_id="unit_line")
                self.unit_view = gr.HighlightedText(
                    label=text("inside.unit.view_label"),
                    show_legend=False,
                    show_inline_category=False,
                    interactive=False,
                    elem_id="unit_view",
                )
                with gr.Accordion(text("inside.cells.json_title"), open=False):
                    self.cells_json = gr.JSON(label=text("inside.cells.json_label"), elem_id="cells_json")

            with gr.Tab(text("inside.tab.beam"), id="inside_beam"):
                with gr.Row(equal_height=False):
                    self.beam_prompt = widgets.prompt_box("beam_prompt", scale=3)
                    with gr.Column(scale=2):
                        self.beam_length = widgets.length_slider("beam_length")
                        self.beam_width = gr.Slider(
                            iv.MIN_WIDTH,
                            iv.MAX_WIDTH,
                            value=iv.DEFAULT_WIDTH,
                            step=1,
                            label=text("inside.beam.width"),
                            info=text("inside.beam.width_info"),
                            elem_id="beam_width",
                        )
                self.beam_button = gr.Button(text("inside.beam.button"), variant="primary", elem_id="beam")
                self.beam_text = gr.Textbox(
                    label=text("inside.beam.text_label"),
                    lines=8,
                    max_lines=16,
                    interactive=False,
                    buttons=["copy"],
                    elem_id="beam_text",
                )
                self.beam_line = gr.Markdown(elem_id="beam_line")
                with gr.Accordion(text("inside.beam.json_title"), open=False):
                    self.beam_json = gr.JSON(label=text("inside.beam.json_label"), elem_id="beam_json")

            with gr.Tab(text("inside.tab.adapt"), id="inside_adapt"):
                self.adapt_text = gr.Textbox(
                    value=iv.default_text(first),
                    label=text("inside.adapt.text_label", limit=f"{iv.MAX_TEXT:,}"),
                    lines=6,
                    max_lines=14,
                    max_length=iv.MAX_TEXT,
                    elem_id="adapt_text",
                )
                self.adapt_button = gr.Button(text("inside.adapt.button"), variant="primary", elem_id="adapt")
                self.adapt_plot = gr.LinePlot(
                    x=iv.ADAPT_COLUMNS[0],
                    y=iv.ADAPT_COLUMNS[1],
                    color=iv.ADAPT_COLUMNS[2],
                    color_map=ADAPT_COLORS,
                    label=text("inside.adapt.plot_label"),
                    height=300,
                    elem_id="adapt_plot",
                )
                self.adapt_line = gr.Markdown(elem_id="adapt_line")
                with gr.Accordion(text("inside.adapt.json_title"), open=False):
                    self.adapt_json = gr.JSON(label=text("inside.adapt.json_label"), elem_id="adapt_json")

    def wire_events(self) -> None:
        """Each endpoint answers JSON; a private step draws the page from it."""
        handlers = self.handlers
        shared = {
            "concurrency_id": self.concurrency_id,
            "concurrency_limit": self.concurrency_limit,
            "preprocess": False,
        }
        private = {"api_visibility": "private", "queue": False, "preprocess": False, "show_progress": "hidden"}
        sweep_inputs = [self.sweep_prompt, self.sweep_length, self.sweep_temperatures, self.sweep_seed, self.model]
        sweep_outputs = [*self.sweep_boxes, self.to_expectations]
        self.sweep_button.click(
            _checked(handlers.sweep), inputs=sweep_inputs, outputs=self.sweep_json, api_name="sweep", **shared
        ).success(handlers.draw_sweep, inputs=self.sweep_json, outputs=sweep_outputs, **private)
        samples_inputs = [
            self.sweep_prompt,
            self.sweep_length,
            self.samples_temperature,
            self.samples_count,
            self.sweep_seed,
            self.model,
        ]
        self.samples_button.click(
            _checked(handlers.samples),
            inputs=samples_inputs,
            outputs=self.sweep_json,
            api_name="samples",
            **shared,
        ).success(handlers.draw_sweep, inputs=self.sweep_json, outputs=sweep_outputs, **private)
        self.to_expectations.click(
            handlers.open_in_expectations,
            inputs=[self.sweep_prompt, self.sweep_json, self.model],
            outputs=[self.expect_text, self.views_tabs],
            **private,
        )
        self.expect_button.click(
            _checked(handlers.expectations),
            inputs=[self.expect_text, self.model],
            outputs=self.expect_json,
            api_name="expectations",
            **shared,
        ).success(
            handlers.draw_expectations,
            inputs=[self.expect_text, self.expect_json, self.model],
            outputs=[self.expect_view, self.expect_summary, self.expect_top, self.expect_line],
            **private,
        )
        self.expect_view.select(
            handlers.pick_character,
            inputs=[self.expect_json, self.model],
            outputs=[self.expect_top, self.expect_line],
            **private,
        )
        self.cells_button.click(
            _checked(handlers.cells),
            inputs=[self.cells_text, self.model],
            outputs=self.cells_json,
            api_name="cells",
            **shared,
        ).success(
            handlers.draw_cells,
            inputs=[self.cells_text, self.model, self.cells_json],
            outputs=[
                self.cells_table,
                self.unit_layer,
                self.unit_kind,
                self.unit_number,
                self.unit_view,
                self.unit_line,
            ],
            **{**private, "queue": True},
        )
        self.cells_table.select(
            handlers.pick_row,
            inputs=[self.cells_table, self.cells_text, self.model],
            outputs=[self.unit_layer, self.unit_kind, self.unit_number, self.unit_view, self.unit_line],
            api_visibility="private",
            show_progress="hidden",
            preprocess=False,
            concurrency_id=self.concurrency_id,
        )
        self.unit_button.click(
            _checked(handlers.colour_by_unit),
            inputs=[self.cells_text, self.model, self.unit_layer, self.unit_kind, self.unit_number],
            outputs=[self.unit_view, self.unit_line],
            api_visibility="private",
            show_progress="hidden",
            preprocess=False,
            concurrency_id=self.concurrency_id,
        )
        self.beam_button.click(
            _checked(handlers.beam),
            inputs=[self.beam_prompt, self.beam_length, self.beam_width, self.model],
            outputs=self.beam_json,
            api_name="beam",
            **shared,
        ).success(handlers.draw_beam, inputs=self.beam_json, outputs=[self.beam_text, self.beam_line], **private)
        self.adapt_button.click(
            _checked(handlers.adapt),
            inputs=[self.adapt_text, self.model],
            outputs=self.adapt_json,
            api_name="adapt",
            **shared,
        ).success(handlers.draw_adapt, inputs=self.adapt_json, outputs=[self.adapt_plot, self.adapt_line], **private)
        self.model.change(
            handlers.model_changed,
            inputs=[self.model, self.expect_text, self.cells_text],
            outputs=[self.expect_text, self.cells_text, self.unit_kind, self.unit_number],
            **private,
        )
