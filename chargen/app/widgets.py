"""Small factories for the widgets the tabs repeat: prompt box, model picker, sliders, seed box.

Each takes the tab-specific parts (``elem_id``, label) and fills in what every tab shares (the app's
limits and defaults from :mod:`chargen.app.views`), so the same control reads and checks the same
way wherever it appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from chargen.app import views
from chargen.app.i18n import text


def prompt_box(elem_id: str, *, label: str | None = None, **options: Any) -> gr.Textbox:
    """A prompt textbox with the app's default prompt and length limit."""
    settings: dict[str, Any] = {"value": views.APP_DEFAULT_PROMPT, "lines": 2, "max_lines": 8}
    settings.update(options)
    label = text("generate.prompt") if label is None else label
    return gr.Textbox(label=label, max_length=views.APP_MAX_PROMPT, elem_id=elem_id, **settings)


def model_picker(names: Sequence[str], elem_id: str, **options: Any) -> gr.Dropdown:
    """The model dropdown: the first name is the default; hidden when there is only one model."""
    return gr.Dropdown(
        choices=list(names),
        value=names[0],
        label=text("generate.model"),
        visible=len(names) > 1,
        elem_id=elem_id,
        **options,
    )


def length_slider(elem_id: str, *, label: str | None = None, **options: Any) -> gr.Slider:
    """How many characters to generate, within the app's limits."""
    label = text("generate.length_default") if label is None else label
    return gr.Slider(
        views.APP_MIN_LENGTH,
        views.APP_MAX_LENGTH,
        value=views.APP_DEFAULT_LENGTH,
        step=1,
        label=label,
        elem_id=elem_id,
        **options,
    )


def temperature_slider(elem_id: str, *, label: str | None = None, **options: Any) -> gr.Slider:
    """The sampling temperature, within the app's limits (0 = greedy)."""
    label = text("generate.temperature") if label is None else label
    return gr.Slider(
        views.APP_MIN_TEMPERATURE,
        views.APP_MAX_TEMPERATURE,
        value=views.APP_DEFAULT_TEMPERATURE,
        step=0.05,
        label=label,
        elem_id=elem_id,
        **options,
    )


def seed_box(elem_id: str, **options: Any) -> gr.Textbox:
    """A seed textbox: blank draws a random seed."""
    return gr.Textbox(
        label=text("generate.seed"),
        placeholder=text("generate.seed_placeholder"),
        max_length=views.APP_MAX_SEED_CHARS,
        elem_id=elem_id,
        **options,
    )
