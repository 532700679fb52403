"""Model cards: every ``README.md`` card chargen writes comes from one template, :data:`CARD_TEMPLATE`.

The front matter is never assembled by hand: it is huggingface_hub's :class:`~huggingface_hub.ModelCardData`
(``library_name: chargen``, ``pipeline_tag: text-generation``, the tags) dumped by
:meth:`huggingface_hub.ModelCard.from_template`, which renders the template's body with Jinja. The body
has a title, a summary line, a table of facts, the loss curve, any further sections and how to load the
model. The template is the package file ``chargen/card_template.md`` (shipped in the wheel and by
``deploy``, as the page's static files are).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chargen.hub import CARD_NAME, PLOT_NAME

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from chargen.model import CharRNN

BASE_TAGS = ("char-rnn",)
"""Tags every chargen card has, before the model's cell and ``text-generation``."""
CARD_TEMPLATE_PATH = Path(__file__).resolve().with_name("card_template.md")
CARD_TEMPLATE = CARD_TEMPLATE_PATH.read_text(encoding="utf-8")
"""The one card template (Jinja, rendered by ``ModelCard.from_template``; Jinja drops its last line break,
so the card ends with one); see :class:`CardContent`."""


@dataclass(frozen=True)
class CardContent:
    """What a model card says beyond the model itself.

    Args:
        title: the card's heading, before `` (chargen)``.
        summary: one paragraph under the heading: what the model is and how it was trained.
        facts: (name, value) rows of the facts table, in order.
        sections: (heading, Markdown) sections after the loss curve, e.g. samples during training.
        loss_curve: True to show ``loss.png`` (:data:`chargen.hub.PLOT_NAME`) from the card's folder.
        tags: tags after the common ones (``char-rnn``, the cell, ``text-generation``).
        license: the card's license id (``mit``, ...), None for no ``license`` key.
        prompt: the prompt of the card's usage example (a newline by default).
    """

    title: str
    summary: str
    facts: Sequence[tuple[str, str]] = ()
    sections: Sequence[tuple[str, str]] = ()
    loss_curve: bool = True
    tags: Sequence[str] = ()
    license: str | None = None
    prompt: str = "\n"


def model_card(model: CharRNN, content: CardContent) -> ModelCard:
    """The :class:`huggingface_hub.ModelCard` of ``model`` from :data:`CARD_TEMPLATE`.

    Example:
        >>> import chargen
        >>> from chargen.card import CardContent, model_card
        >>> model = chargen.CharRNN(chargen.ModelConfig(vocab=list("ab \\n"), hidden_size=8))
        >>> card = model_card(model, CardContent("tiny", "A tiny GRU.", facts=[("cell", "gru")]))
        >>> card.data.library_name, card.data.tags
        ('chargen', ['char-rnn', 'gru', 'text-generation'])
    """
    from huggingface_hub import ModelCard, ModelCardData

    tags = list(dict.fromkeys([*BASE_TAGS, model.cell, "text-generation", *content.tags]))
    data = ModelCardData(library_name="chargen", license=content.license, tags=tags, pipeline_tag="text-generation")
    return ModelCard.from_template(
        data,
        template_str=CARD_TEMPLATE,
        title=content.title,
        summary=content.summary,
        facts=list(content.facts),
        sections=list(content.sections),
        loss_curve=PLOT_NAME if content.loss_curve else "",
        # The prompt as the example's Python spells it ("\n", not a line break): a JSON string is a Python literal.
        prompt=json.dumps(content.prompt, ensure_ascii=False),
    )


def write_model_card(folder: str | Path, model: CharRNN, content: CardContent) -> Path:
    """Write ``model``'s card (:func:`model_card`) to ``folder/README.md``; returns its path."""
    from chargen.atomic import write_text_atomic

    path = Path(folder) / CARD_NAME
    write_text_atomic(path, str(model_card(model, content)))
    return path


__all__ = ["CARD_TEMPLATE", "CardContent", "model_card", "write_model_card"]
