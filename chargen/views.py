"""What the app shows, made from chargen's results: checked inputs, the loop highlight, the
probability shading and the next-character chart.

The Gradio app (``app.py``) only wires widgets to these functions; nothing here imports gradio,
so every view can be tested on its own. Bad input raises :class:`~chargen.errors.ConfigError`
with a message meant for a person; the app shows it as a ``gr.Error``.
"""

from __future__ import annotations

import html
import math
import reprlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chargen.errors import ConfigError
from chargen.generate import MAX_PROMPT_CHARS, MAX_SEED, Comparison, next_char_distribution
from chargen.loops import Loop

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chargen.model import CharRNN

# The app's limits. Generation itself allows more; a public page keeps each request small.
MIN_TEMPERATURE, MAX_TEMPERATURE, DEFAULT_TEMPERATURE = 0.0, 2.0, 0.8
MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH = 10, 2000, 300
MAX_TOP_K = 200
DEFAULT_PROMPT = "ROMEO:\nI love thee "
"""The page's first prompt: after it the next character is uncertain, so the chart has something to show."""
MAX_PROMPT = MAX_PROMPT_CHARS
"""A longer prompt is refused: generation would only read its last ``MAX_PROMPT_CHARS`` anyway."""
DEFAULT_MODELS = "checkpoints/shakespeare,checkpoints/python"
"""The bundled models the app offers when ``CHARGEN_MODELS`` is not set; the first is the default."""
CHART_CHARACTERS = 12
"""How many of the likeliest next characters the chart shows; the rest share one bar."""

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One Generate click, checked: what :func:`chargen.generate.stream_compare` is called with."""

    prompt: str
    temperature: float
    length: int
    top_k: int | None
    top_p: float | None
    seed: int | None
    model_name: str


_SHORT_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxlong, _SHORT_REPR.maxother = 1, 40, 40, 40


def _shown(value: Any) -> str:
    """``value`` quoted for an error message, cut short: a visitor's huge input is never echoed back whole."""
    return _SHORT_REPR.repr(value)


def _number(value: Any, name: str, allowed: str) -> float:
    """``value`` as a finite float; numbers may come as strings through the API."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name} must be {allowed}, got {_shown(value)}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ConfigError(f"{name} must be {allowed}, got {_shown(value)}")
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be {allowed}, got {_shown(value)}")
    return number


def _whole(value: Any, name: str, allowed: str) -> int:
    """``value`` as an int; a float must be a whole number (``300.0`` is fine, ``300.5`` is not)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value, name, allowed)
    if not number.is_integer():
        raise ConfigError(f"{name} must be {allowed}, got {_shown(value)}")
    return int(number)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_prompt(prompt: Any) -> str:
    """The prompt as typed; ``None`` is empty; more than :data:`MAX_PROMPT` characters is refused."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT:
        raise ConfigError(f"prompt is {len(prompt):,} characters long; the limit is {MAX_PROMPT:,}")
    return prompt


def check_temperature(temperature: Any) -> float:
    """A temperature from the page or the API: a number from 0 (greedy) to 2."""
    allowed = f"a number from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g} (0 = greedy)"
    value = _number(temperature, "temperature", allowed)
    if not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        raise ConfigError(f"temperature must be {allowed}, got {_shown(temperature)}")
    return value


def check_length(length: Any) -> int:
    """How many characters to generate: a whole number from 10 to 2000."""
    allowed = f"a whole number of characters from {MIN_LENGTH} to {MAX_LENGTH}"
    value = _whole(length, "length", allowed)
    if not MIN_LENGTH <= value <= MAX_LENGTH:
        raise ConfigError(f"length must be {allowed}, got {_shown(length)}")
    return value


def check_top_k(top_k: Any) -> int | None:
    """Top-k: blank or 0 means off, else a whole number from 1 to 200."""
    if _blank(top_k):
        return None
    allowed = f"a whole number from 0 (off) to {MAX_TOP_K}"
    value = _whole(top_k, "top-k", allowed)
    if not 0 <= value <= MAX_TOP_K:
        raise ConfigError(f"top-k must be {allowed}, got {_shown(top_k)}")
    return value or None


def check_top_p(top_p: Any) -> float | None:
    """Top-p (nucleus): blank or 1 means off, else a number above 0 and at most 1."""
    if _blank(top_p):
        return None
    allowed = "a number above 0 and at most 1 (1 = off)"
    value = _number(top_p, "top-p", allowed)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"top-p must be {allowed}, got {_shown(top_p)}")
    return None if value == 1.0 else value


def check_seed(seed: Any) -> int | None:
    """A seed: blank means a fresh random one, else a whole number from 0 to 2**63 - 1."""
    if _blank(seed):
        return None
    allowed = "blank (random) or a whole number from 0 to 9223372036854775807"
    value = _whole(seed, "seed", allowed)
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"seed must be {allowed}, got {_shown(seed)}")
    return value


def check_model_name(name: Any, model_names: Sequence[str]) -> str:
    """One of the app's configured models (blank = the first); never a path typed by a visitor."""
    if not model_names:
        raise ConfigError("no model is loaded")
    if _blank(name):
        return model_names[0]
    if not isinstance(name, str) or name not in model_names:
        raise ConfigError(f"model must be one of {', '.join(model_names)}, got {_shown(name)}")
    return name


def parse_request(
    prompt: Any,
    temperature: Any,
    length: Any,
    top_k: Any = None,
    top_p: Any = None,
    seed: Any = None,
    model_name: Any = None,
    *,
    model_names: Sequence[str],
) -> Request:
    """Check every input of a Generate request as it comes from the page or the API."""
    return Request(
        prompt=check_prompt(prompt),
        temperature=check_temperature(temperature),
        length=check_length(length),
        top_k=check_top_k(top_k),
        top_p=check_top_p(top_p),
        seed=check_seed(seed),
        model_name=check_model_name(model_name, model_names),
    )


def set_torch_threads(threads: int) -> None:
    """How many threads one generation may use. A served app picks this on purpose: on 2 cores,
    two requests with 2 threads each fight over the cores and both slow down badly."""
    import torch

    torch.set_num_threads(threads)


EXAMPLE_PROMPTS = {
    "shakespeare": ["ROMEO:", "First Citizen:\nBefore we proceed any further, hear me speak.", "To be, or not to be"],
    "python": ["def fibonacci(n):", "import os\n\n\nclass ", "    for i in range("],
}
"""Prompts that suit the bundled models, keyed by the model's short name."""


def example_prompts(model_names: Sequence[str]) -> list[list[str]]:
    """Rows for ``gr.Examples``: ``[prompt, model name]`` per offered model (prompts that suit the
    bundled ones, a generic one for others); ``[prompt]`` alone when only one model is offered."""
    rows = [[prompt, name] for name in model_names for prompt in EXAMPLE_PROMPTS.get(model_label(name), ["The "])]
    return rows if len(model_names) > 1 else [[prompt] for prompt, _ in rows]


def model_label(name: str) -> str:
    """A short name for the model picker: ``checkpoints/shakespeare`` -> ``shakespeare``."""
    return Path(name).name if Path(name).exists() else name


def prompt_notices(prompt: str, comparison: Comparison) -> list[str]:
    """What a visitor should know about how the prompt was read: dropped characters, an empty prompt."""
    notices = []
    dropped = comparison.dropped
    if dropped:
        shown = " ".join(_visible(ch) for ch in dropped[:20])
        more = f" and {len(dropped) - 20} more" if len(dropped) > 20 else ""
        notices.append(f"The model does not know these characters, so they were left out of the prompt: {shown}{more}")
    if all(ch in dropped for ch in prompt):
        why = "was empty" if not prompt else "had no character the model knows"
        notices.append(f"The prompt {why}, so the model started from {comparison.prompt_used!r}.")
    return notices


def _visible(ch: str) -> str:
    """A character as a person can read it in a notice: quoted, with escapes for invisible ones."""
    return repr(ch) if ch.isprintable() else ascii(ch)


def markdown_text(text: str) -> str:
    """``text`` on one line, escaped so Markdown shows it as written (no links, emphasis or HTML)."""
    escaped = html.escape(" ".join(text.splitlines()), quote=False)
    return "".join("\\" + ch if ch in "\\`*_[]#|~" else ch for ch in escaped)


def notices_markdown(notices: Iterable[str]) -> str:
    """Notices as a Markdown list (empty when there are none)."""
    return "\n".join(f"- {markdown_text(notice)}" for notice in notices)


def seed_text(comparison: Comparison) -> str:
    """The seed that made the sampled text, as shown beside it."""
    return str(comparison.seed)


def loop_summary(comparison: Comparison) -> str:
    """One line about the greedy text's loop, e.g. ``greedy output repeats every 23 characters from character 140``."""
    if comparison.loop is not None:
        return comparison.loop.describe()
    return f"greedy output does not fall into a loop within {len(comparison.greedy)} characters"


def loop_highlight(text: str, loop: Loop | None) -> list[tuple[str, str | None]]:
    """``text`` cut into ``(piece, label)`` pairs for a HighlightedText: the first copy of the loop's
    unit is labelled ``loop starts``, every later copy ``repeats``, the rest unlabelled."""
    if loop is None:
        return [(text, None)] if text else []
    pieces: list[tuple[str, str | None]] = []
    if loop.start:
        pieces.append((text[: loop.start], None))
    for copy_start in range(loop.start, len(text), loop.period):
        label = "loop starts" if copy_start == loop.start else "repeats"
        pieces.append((text[copy_start : copy_start + loop.period], label))
    return pieces


LOOP_COLORS = {"loop starts": "#f97316", "repeats": "#facc15"}
"""Colours of the loop highlight's labels: orange where the loop starts, yellow for each repeat."""

# Surprise scale for the shading: a character drawn with probability p gets this colour at
# opacity 0.8 * (1 - p) ** 1.5, so likely picks stay pale and unlikely ones stand out.
_SHADE_RGB = (220, 38, 38)
_SHADE_STEPS = 10


def _shade(prob: float) -> str:
    surprise = min(max(1.0 - prob, 0.0), 1.0) ** 1.5
    step = round(surprise * _SHADE_STEPS) / _SHADE_STEPS
    red, green, blue = _SHADE_RGB
    return f"rgba({red},{green},{blue},{step * 0.8:.2f})"


def probability_html(text: str, probs: Sequence[float]) -> str:
    """The sampled text as HTML, each character shaded by how unlikely it was when drawn.

    ``probs[i]`` is the probability the sampling distribution gave ``text[i]``. Characters that
    share a shade share a span, so long texts stay small; each span's tooltip gives the probability.
    """
    if not text:
        return ""
    if len(probs) != len(text):
        raise ValueError(f"need one probability per character: {len(text)} characters, {len(probs)} probabilities")
    spans = []
    run_start = 0
    for i in range(1, len(text) + 1):
        if i < len(text) and _shade(probs[i]) == _shade(probs[run_start]) and text[i] != "\n":
            continue
        piece = text[run_start:i]
        low, high = min(probs[run_start:i]), max(probs[run_start:i])
        tip = f"p = {low:.2f}" if round(low, 2) == round(high, 2) else f"p = {low:.2f} to {high:.2f}"
        spans.append(f'<span title="{tip}" style="background:{_shade(probs[run_start])}">{html.escape(piece)}</span>')
        run_start = i
    legend = (
        '<div style="font-size:0.85em;opacity:0.8;margin-top:0.5em">'
        f'<span style="background:{_shade(1.0)};border:1px solid #ccc">&nbsp;likely&nbsp;</span> '
        f'<span style="background:{_shade(0.5)}">&nbsp;p = 0.5&nbsp;</span> '
        f'<span style="background:{_shade(0.05)}">&nbsp;unlikely&nbsp;</span>'
        " &nbsp;each character shaded by the probability it had when it was drawn; hover for the number</div>"
    )
    body = "".join(spans)
    return (
        '<div class="shaded-text" style="white-space:pre-wrap;font-family:ui-monospace,monospace;'
        f'line-height:1.5">{body}</div>{legend}'
    )


def display_char(ch: str) -> str:
    """A character as a chart label: visible names for whitespace."""
    names = {"\n": "newline", " ": "space", "\t": "tab"}
    if ch in names:
        return names[ch]
    return ch if ch.isprintable() else ascii(ch)


@dataclass(frozen=True)
class DistributionRow:
    """One bar pair of the chart: a character and its probability at the chosen temperature and at T = 1."""

    char: str
    at_temperature: float
    at_one: float


def distribution_rows(
    model: CharRNN, prompt: str, temperature: float, top: int = CHART_CHARACTERS
) -> list[DistributionRow]:
    """The ``top`` likeliest next characters after ``prompt`` (at T = 1), with their probability at
    ``temperature`` beside it, and a last row ``all others`` holding the rest of each distribution.

    Temperature never reorders characters, so the likeliest ones at T = 1 are the likeliest at
    any temperature.
    """
    at_temperature = dict(next_char_distribution(model, prompt, temperature))
    at_one = next_char_distribution(model, prompt, 1.0)
    ranked = sorted(at_one, key=lambda pair: -pair[1])[:top]
    rows = [DistributionRow(ch, at_temperature[ch], prob) for ch, prob in ranked]
    rest_t = max(0.0, 1.0 - sum(row.at_temperature for row in rows))
    rest_one = max(0.0, 1.0 - sum(row.at_one for row in rows))
    rows.append(DistributionRow("all others", rest_t, rest_one))
    return rows


def distribution_figure(rows: Sequence[DistributionRow], temperature: float) -> Figure:
    """A grouped bar chart of ``rows``: the chosen temperature beside T = 1 for each character."""
    from matplotlib.figure import Figure  # imported on first use: it costs ~0.5 s

    labels = [row.char if row.char == "all others" else display_char(row.char) for row in rows]
    positions = range(len(rows))
    width = 0.4
    figure = Figure(figsize=(9, 3.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    name = "greedy (T = 0)" if temperature == 0 else f"T = {temperature:g}"
    axes.bar([x - width / 2 for x in positions], [r.at_temperature for r in rows], width, label=name, color="#f97316")
    axes.bar([x + width / 2 for x in positions], [r.at_one for r in rows], width, label="T = 1", color="#94a3b8")
    axes.set_xticks(list(positions), labels, fontsize=9)
    axes.set_ylim(0, 1)
    axes.set_ylabel("probability")
    axes.set_title("What could come next after the prompt", fontsize=11)
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", alpha=0.3)
    return figure


def throttle(items: Iterable[T], interval: float = 0.04) -> Iterator[T]:
    """Pass on the first item at once, then at most one every ``interval`` seconds, and always the last.

    A page updated for every character of a long text spends more time redrawing than generating.
    """
    last_sent = -math.inf
    pending: T | None = None
    have_pending = False
    for item in items:
        now = time.monotonic()
        if now - last_sent >= interval:
            last_sent = now
            have_pending = False
            yield item
        else:
            pending, have_pending = item, True
    if have_pending:
        yield pending  # type: ignore[misc]
