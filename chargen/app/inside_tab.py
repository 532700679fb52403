"""The app's "Look inside" tab: every temperature at once, what the model expected, cells, beam search.

:func:`add_inside_tab` adds it to the ``gr.Blocks`` being built, given the app's models, with
four API endpoints (``/sweep``, ``/expectations``, ``/cells``, ``/beam``, and ``/samples`` for
the N-samples button). Each endpoint answers one JSON value; the page draws its components from
that value in a second, private step, so the page and the API always show the same answer.
The work is in :mod:`chargen.inference.inside`, the checks and displayed values in :mod:`chargen.app.inside_views`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr

from chargen.app import inside_views as iv
from chargen.app import views
from chargen.errors import ChargenError
from chargen.inference import inside
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

INTRO = (
    "<p>Four ways to watch the network work: continue one prompt at <b>every temperature at once</b>; see "
    "<b>what the model expected</b> at each character (or word) of a text; find the <b>cells</b> that follow simple "
    "properties of a text (the position in the line, quotes, brackets, a speaker's name); and <b>beam "
    "search</b>, which looks for the likeliest whole continuation.</p>"
)
MODEL_NOTE = "<p>They use the model picked on the Generate tab.</p>"


def _checked(work: Callable[..., Any]) -> Callable[..., Any]:
    """``work`` with chargen's input errors shown as a ``gr.Error`` (a message, no traceback)."""

    @functools.wraps(work)  # keeps the signature: the API names its inputs after the parameters
    def run(*args: Any) -> Any:
        try:
            return work(*args)
        except ChargenError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return run


def page_tab(parts: Any) -> None:
    """The tab as ``app.TABS`` takes it: built inside its ``gr.Tab`` from the page's parts (their
    handlers' models, and the page's model picker, so one choice of model serves every tab)."""
    models = {name: offered.model for name, offered in parts.handlers.models.items()}
    if getattr(parts.handlers, "session_models", None) is not None:  # a visitor's Train-tab models too
        models = parts.handlers.session_models.current(models)
    add_inside_views(models, model=parts.model, intro=INTRO + MODEL_NOTE)


def add_inside_tab(models: Mapping[str, CharRNN], **options: Any) -> None:
    """Add a "Look inside" tab holding :func:`add_inside_views` to the ``gr.Blocks`` being built."""
    with gr.Tab("Look inside", id="inside", elem_id="inside"):
        add_inside_views(models, **options)


def add_inside_views(
    models: Mapping[str, CharRNN],
    model: gr.Dropdown | None = None,
    concurrency_limit: int = 2,
    concurrency_id: str = "model",
    intro: str = INTRO,
) -> None:
    """Add the four views and their endpoints where the ``gr.Blocks`` being built is (inside a tab).

    Args:
        models: The app's models by name (the first is the default).
        model: The page's model picker, if it has one; otherwise the views get their own.
        intro: The HTML paragraph above the views.
        concurrency_limit: How many of these computations run at once (shared with ``concurrency_id``).
        concurrency_id: The queue these events share with the app's other model work.
    """
    names = list(models)
    first = names[0]
    shared = {"concurrency_id": concurrency_id, "concurrency_limit": concurrency_limit, "preprocess": False}
    private = {"api_visibility": "private", "queue": False, "preprocess": False, "show_progress": "hidden"}

    # Handlers named as the API shows them; each one's parameters are the endpoint's inputs.
    def sweep(prompt: str, length: int, temperatures: str, seed: str, model_name: str) -> list[dict[str, object]]:
        """Continue the prompt at each temperature (0 = greedy), same seed, from one primed state."""
        return iv.sweep_answer(models, prompt, length, temperatures, seed, model_name)

    def samples(
        prompt: str, length: int, temperature: float, count: int, seed: str, model_name: str
    ) -> list[dict[str, object]]:
        """``count`` samples at one temperature, with seeds seed, seed + 1, ..."""
        return iv.samples_answer(models, prompt, length, temperature, count, seed, model_name)

    def expectations(text: str, model_name: str) -> list[dict[str, object]]:
        """Per character (a word model: per token) after the first: the probability it was given (T = 1), top 5."""
        return iv.expectations_answer(models, text, model_name)

    def cells(text: str, model_name: str) -> list[dict[str, object]]:
        """Units ranked by |correlation| with simple properties of the text, best first."""
        return iv.cells_answer(models, text, model_name)

    def beam(prompt: str, length: int, width: int, model_name: str) -> dict[str, object]:
        """The likeliest continuation a beam of this width finds, its log-probability and loop line."""
        return iv.beam_answer(models, prompt, length, width, model_name)

    def colour_by_unit(text: str, model_name: str, layer: Any, kind: Any, unit: Any) -> tuple[Any, str]:
        return iv.unit_highlights(models, text, model_name, layer, kind, unit)

    gr.HTML(intro + TEXT_VIEW_CSS, elem_id="inside_intro")
    if model is None:
        model = gr.Dropdown(choices=names, value=first, label="Model", visible=len(names) > 1, elem_id="inside_model")
    with gr.Tabs() as views_tabs:
        with gr.Tab("Every temperature", id="inside_sweep"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    sweep_prompt = gr.Textbox(
                        value=views.APP_DEFAULT_PROMPT,
                        label="Prompt",
                        lines=2,
                        max_lines=8,
                        max_length=views.APP_MAX_PROMPT,
                        elem_id="sweep_prompt",
                    )
                    sweep_temperatures = gr.Textbox(
                        value=iv.DEFAULT_SWEEP_TEMPERATURES,
                        label=f"Temperatures (up to {iv.MAX_SWEEP_TEMPERATURES}; 0 = greedy)",
                        max_length=200,
                        elem_id="sweep_temperatures",
                    )
                with gr.Column(scale=2):
                    sweep_length = gr.Slider(
                        views.APP_MIN_LENGTH,
                        views.APP_MAX_LENGTH,
                        value=views.APP_DEFAULT_LENGTH,
                        step=1,
                        label="Characters to generate",
                        elem_id="sweep_length",
                    )
                    sweep_seed = gr.Textbox(
                        value="",
                        label="Seed",
                        placeholder="blank = random",
                        max_length=views.APP_MAX_SEED_CHARS,
                        elem_id="sweep_seed",
                    )
            with gr.Row():
                sweep_button = gr.Button("Continue at every temperature", variant="primary", elem_id="sweep")
            with gr.Row(equal_height=True):
                samples_temperature = gr.Slider(
                    views.APP_MIN_TEMPERATURE,
                    views.APP_MAX_TEMPERATURE,
                    value=views.APP_DEFAULT_TEMPERATURE,
                    step=0.05,
                    label="Or: several samples at one temperature",
                    elem_id="samples_temperature",
                )
                samples_count = gr.Slider(
                    iv.MIN_SAMPLES,
                    iv.MAX_SAMPLES,
                    value=iv.DEFAULT_SAMPLES,
                    step=1,
                    label="How many (seeds s, s + 1, ...)",
                    elem_id="samples_count",
                )
                samples_button = gr.Button("Sample", elem_id="samples", scale=0, min_width=120)
            sweep_boxes = []
            for row in range(0, iv.MAX_SWEEP_TEMPERATURES, 2):
                with gr.Row(equal_height=False):
                    for i in (row, row + 1):
                        sweep_boxes.append(
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
            to_expectations = gr.Button(
                "What did the model expect in the first text?", size="sm", visible=False, elem_id="sweep_to_expect"
            )
            with gr.Accordion("As JSON (what /sweep and /samples answer)", open=False):
                sweep_json = gr.JSON(label="Continuations", elem_id="sweep_json")

        with gr.Tab("What it expected", id="inside_expectations"):
            expect_text = gr.Textbox(
                value=iv.default_text(first),
                label=f"A text (up to {iv.MAX_TEXT:,} characters): paste one, or a prompt and its continuation",
                lines=6,
                max_lines=14,
                max_length=iv.MAX_TEXT,
                elem_id="expect_text",
            )
            expect_button = gr.Button("What did the model expect?", variant="primary", elem_id="expect")
            expect_summary = gr.Markdown(elem_id="expect_summary")
            with gr.Row(equal_height=False):
                expect_view = gr.HighlightedText(
                    label="Each character (a word model: each token) shaded by how surprised the model was (click one)",
                    show_legend=False,
                    show_inline_category=False,
                    interactive=False,
                    scale=3,
                    elem_id="expect_view",
                )
                with gr.Column(scale=1, min_width=220):
                    expect_line = gr.Markdown(elem_id="expect_line")
                    expect_top = gr.Label(label="Its top 5 guesses there", num_top_classes=5, elem_id="expect_top")
            with gr.Accordion("As JSON (what /expectations answers)", open=False):
                expect_json = gr.JSON(label="What the model expected", elem_id="expect_json")

        with gr.Tab("Cells", id="inside_cells"):
            cells_text = gr.Textbox(
                value=iv.default_text(first),
                label=f"A text (up to {iv.MAX_TEXT:,} characters)",
                lines=6,
                max_lines=14,
                max_length=iv.MAX_TEXT,
                elem_id="cells_text",
            )
            cells_button = gr.Button("Find cells that follow the text", variant="primary", elem_id="cells")
            cells_table = gr.Dataframe(
                headers=["layer", "kind", "unit", "property", "r"],
                datatype=["number", "str", "number", "str", "number"],
                label="Units that follow a property of the text, best first (click a row to colour the text by it)",
                interactive=False,
                max_height=320,
                elem_id="cells_table",
            )
            with gr.Row(equal_height=True):
                first_model = models[first]
                unit_layer = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=first_model.config.num_layers - 1,
                    precision=0,
                    label="Layer",
                    elem_id="unit_layer",
                )
                unit_kind = gr.Radio(
                    list(inside.CELL_KINDS if first_model.cell == "lstm" else inside.CELL_KINDS[:1]),
                    value="hidden",
                    label="State",
                    elem_id="unit_kind",
                )
                unit_number = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=first_model.config.hidden_size - 1,
                    precision=0,
                    label="Unit",
                    elem_id="unit_number",
                )
                unit_button = gr.Button("Colour the text by this unit", elem_id="unit_show")
            unit_line = gr.Markdown(elem_id="unit_line")
            unit_view = gr.HighlightedText(
                label="The text, coloured by the unit's value after each character (a word model: each token)",
                show_legend=False,
                show_inline_category=False,
                interactive=False,
                elem_id="unit_view",
            )
            with gr.Accordion("As JSON (what /cells answers)", open=False):
                cells_json = gr.JSON(label="Units that follow the text", elem_id="cells_json")

        with gr.Tab("Beam search", id="inside_beam"):
            with gr.Row(equal_height=False):
                beam_prompt = gr.Textbox(
                    value=views.APP_DEFAULT_PROMPT,
                    label="Prompt",
                    lines=2,
                    max_lines=8,
                    max_length=views.APP_MAX_PROMPT,
                    scale=3,
                    elem_id="beam_prompt",
                )
                with gr.Column(scale=2):
                    beam_length = gr.Slider(
                        views.APP_MIN_LENGTH,
                        views.APP_MAX_LENGTH,
                        value=views.APP_DEFAULT_LENGTH,
                        step=1,
                        label="Characters to generate",
                        elem_id="beam_length",
                    )
                    beam_width = gr.Slider(
                        iv.MIN_WIDTH,
                        iv.MAX_WIDTH,
                        value=iv.DEFAULT_WIDTH,
                        step=1,
                        label="Beam width",
                        info="how many partial texts it keeps at each step",
                        elem_id="beam_width",
                    )
            beam_button = gr.Button("Search", variant="primary", elem_id="beam")
            beam_text = gr.Textbox(
                label="The likeliest continuation the beam found",
                lines=8,
                max_lines=16,
                interactive=False,
                buttons=["copy"],
                elem_id="beam_text",
            )
            beam_line = gr.Markdown(elem_id="beam_line")
            with gr.Accordion("As JSON (what /beam answers)", open=False):
                beam_json = gr.JSON(label="Beam search result", elem_id="beam_json")

    # --- events: each endpoint answers JSON; a private step draws the page from it ---

    def draw_sweep(answer: list[dict[str, Any]] | None) -> list[Any]:
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

    def open_in_expectations(prompt: str, answer: list[dict[str, Any]] | None, model_name: str) -> tuple[Any, Any]:
        """The prompt and the first continuation, as the text of "What it expected", and that view opened."""
        text = _checked(iv.continuation_text)(models, prompt, answer or [], model_name)
        return text, gr.Tabs(selected="inside_expectations")

    sweep_inputs = [sweep_prompt, sweep_length, sweep_temperatures, sweep_seed, model]
    sweep_outputs = [*sweep_boxes, to_expectations]
    sweep_button.click(_checked(sweep), inputs=sweep_inputs, outputs=sweep_json, api_name="sweep", **shared).success(
        draw_sweep, inputs=sweep_json, outputs=sweep_outputs, **private
    )
    samples_inputs = [sweep_prompt, sweep_length, samples_temperature, samples_count, sweep_seed, model]
    samples_button.click(
        _checked(samples), inputs=samples_inputs, outputs=sweep_json, api_name="samples", **shared
    ).success(draw_sweep, inputs=sweep_json, outputs=sweep_outputs, **private)
    to_expectations.click(
        open_in_expectations,
        inputs=[sweep_prompt, sweep_json, model],
        outputs=[expect_text, views_tabs],
        **private,
    )

    def unit_of(model_name: str) -> str:
        """The picked model's unit: what one step of the views is (a character, or a word model's token)."""
        chosen = models.get(model_name)
        return chosen.unit if chosen is not None else "char"

    def draw_expectations(text: str, answer: list[dict[str, Any]] | None, model_name: str) -> tuple[Any, ...]:
        answer = answer or []
        summary = iv.expectations_summary(answer, unit_of(model_name))
        return iv.expectation_highlights(text, answer), summary, None, ""

    def pick_character(answer: list[dict[str, Any]] | None, model_name: str, event: gr.SelectData) -> tuple[Any, str]:
        index = event.index if isinstance(event.index, int) else event.index[0]
        top, line = iv.guesses(answer or [], int(index), unit_of(model_name))
        return top or None, line

    expect_button.click(
        _checked(expectations), inputs=[expect_text, model], outputs=expect_json, api_name="expectations", **shared
    ).success(
        draw_expectations,
        inputs=[expect_text, expect_json, model],
        outputs=[expect_view, expect_summary, expect_top, expect_line],
        **private,
    )
    expect_view.select(pick_character, inputs=[expect_json, model], outputs=[expect_top, expect_line], **private)

    def draw_cells(text: str, model_name: str, answer: list[dict[str, Any]] | None) -> tuple[Any, ...]:
        answer = answer or []
        rows = iv.cells_rows(answer)
        if not answer:
            return rows, gr.skip(), gr.skip(), gr.skip(), [], "No property of this text varies: nothing to follow."
        best = answer[0]
        pairs, line = _checked(colour_by_unit)(text, model_name, best["layer"], best["kind"], best["unit"])
        line = f"The best match: {best['property']}, r = {best['r']:.2f}. " + line
        return rows, best["layer"], best["kind"], best["unit"], pairs, line

    def pick_row(rows: Any, text: str, model_name: str, event: gr.SelectData) -> tuple[Any, ...]:
        data = rows.get("data", []) if isinstance(rows, dict) else list(getattr(rows, "values", rows).tolist())
        row = data[event.index[0]]
        layer, kind, unit, name, r = row[:5]
        pairs, line = _checked(colour_by_unit)(text, model_name, layer, kind, unit)
        return int(layer), kind, int(unit), pairs, f"{name}, r = {float(r):.2f}. " + line

    cells_button.click(
        _checked(cells), inputs=[cells_text, model], outputs=cells_json, api_name="cells", **shared
    ).success(
        draw_cells,
        inputs=[cells_text, model, cells_json],
        outputs=[cells_table, unit_layer, unit_kind, unit_number, unit_view, unit_line],
        **{**private, "queue": True},
    )
    cells_table.select(
        pick_row,
        inputs=[cells_table, cells_text, model],
        outputs=[unit_layer, unit_kind, unit_number, unit_view, unit_line],
        api_visibility="private",
        show_progress="hidden",
        preprocess=False,
        concurrency_id=concurrency_id,
    )
    unit_button.click(
        _checked(colour_by_unit),
        inputs=[cells_text, model, unit_layer, unit_kind, unit_number],
        outputs=[unit_view, unit_line],
        api_visibility="private",
        show_progress="hidden",
        preprocess=False,
        concurrency_id=concurrency_id,
    )

    def draw_beam(answer: dict[str, Any] | None) -> tuple[str, str]:
        if not answer:
            return "", ""
        return str(answer["text"]), iv.beam_summary(answer, len(str(answer["text"])))

    beam_button.click(
        _checked(beam),
        inputs=[beam_prompt, beam_length, beam_width, model],
        outputs=beam_json,
        api_name="beam",
        **shared,
    ).success(draw_beam, inputs=beam_json, outputs=[beam_text, beam_line], **private)

    def model_changed(model_name: str, expect_value: str, cells_value: str) -> tuple[Any, ...]:
        """A new model: its own starting text where the old default was untouched, its unit range."""
        defaults = {iv.default_text(name) for name in names}
        new_text = iv.default_text(model_name) if model_name in models else None

        def follow(current: str) -> Any:
            return new_text if new_text is not None and current in defaults else gr.skip()

        chosen = models.get(model_name)
        kinds = ["hidden", "cell"] if chosen is not None and chosen.cell == "lstm" else ["hidden"]
        unit_max = chosen.config.hidden_size - 1 if chosen is not None else None
        return (
            follow(expect_value),
            follow(cells_value),
            gr.update(choices=kinds, value="hidden"),
            gr.update(maximum=unit_max),
        )

    model.change(
        model_changed,
        inputs=[model, expect_text, cells_text],
        outputs=[expect_text, cells_text, unit_kind, unit_number],
        **private,
    )
