"""What the "Look inside" tab shows, made from :mod:`chargen.inference.inside`: checked inputs, the API's JSON
answers, and the values its components display.

Nothing here imports gradio (the tab itself is built in :mod:`chargen.app.inside_tab`), so every
view is testable on its own. Inputs come from the page or the API as typed: each is checked as
the Generate request's are (:mod:`chargen.app.views`) and bad ones raise
:class:`~chargen.errors.ConfigError` with a message meant for a person.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargen.app import views
from chargen.errors import ConfigError

# The page is served before torch is imported (chargen.app.demo.main): what needs torch is imported where used.
if TYPE_CHECKING:
    from chargen.inference import inside
    from chargen.model import CharRNN

MAX_SWEEP_TEMPERATURES = 8
"""The most temperatures one sweep (or samples one click) makes on the page or through the API."""
DEFAULT_SWEEP_TEMPERATURES = "0, 0.3, 0.6, 1.0, 1.5"
MIN_SAMPLES, MAX_SAMPLES, DEFAULT_SAMPLES = 2, MAX_SWEEP_TEMPERATURES, 4
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 2, 16, 4  # MAX_WIDTH: inside.MAX_BEAM_WIDTH (tests/test_startup.py)
CELL_KINDS = ("hidden", "cell")
"""inside.CELL_KINDS, for the page before torch is imported (tests/test_startup.py checks they agree)."""
MAX_TEXT = 2000
"""The longest text the expectations and cells views read (the views answer within ~300 ms at this size)."""
CELLS_PER_PROPERTY = 3
"""How many units the cell finder lists for each property."""
SURPRISE_BITS = 8.0
"""A character the model gave probability 2**-8 or less is shaded fully; one it was sure of, not at all."""

DEFAULT_TEXTS = {
    "shakespeare": (
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
        "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\nAll:\n"
        "We know't, we know't.\n\nFirst Citizen:\nLet us kill him, and we'll have corn at our own price.\n"
        "Is't a verdict?\n\nAll:\nNo more talking on't; let it be done: away, away!\n\nSecond Citizen:\n"
        "One word, good citizens.\n"
    ),
    "python": (
        "def read_config(path):\n"
        '    """Read a config file into a dict."""\n'
        "    config = {}\n"
        "    with open(path) as f:\n"
        "        for line in f:\n"
        "            line = line.strip()\n"
        '            if not line or line.startswith("#"):\n'
        "                continue\n"
        '            key, value = line.split("=", 1)\n'
        "            config[key.strip()] = value.strip()\n"
        "    return config\n"
    ),
}
"""A text to look inside per bundled model (the opening of Tiny Shakespeare, a small Python function)."""


def default_text(model_name: str) -> str:
    """The text the expectations and cells views start with for ``model_name``."""
    return DEFAULT_TEXTS.get(Path(model_name.rstrip("/")).name, DEFAULT_TEXTS["shakespeare"])


WHITESPACE_NAMES = {"\n": "line break", " ": "space", "\t": "tab"}


def display_char(ch: str) -> str:
    """A character (or a word model's token) as a label: names for whitespace, e.g. ``2 line breaks,
    4 spaces`` for a run of it, escapes for the invisible."""
    if ch in WHITESPACE_NAMES:
        return WHITESPACE_NAMES[ch]
    if ch and all(c in WHITESPACE_NAMES for c in ch):
        runs = [(c, len(list(group))) for c, group in itertools.groupby(ch)]
        return ", ".join(WHITESPACE_NAMES[c] if n == 1 else f"{n} {WHITESPACE_NAMES[c]}s" for c, n in runs)
    return ch if ch.isprintable() else ascii(ch)


def step_name(unit: str) -> str:
    """What one step of a model of ``unit`` reads: ``"character"``, or ``"token"`` for a word model."""
    return "token" if unit == "word" else "character"


# --- inputs -------------------------------------------------------------------------------------


def check_temperatures(text: Any) -> list[float]:
    """Temperatures typed as text, e.g. ``"0, 0.5, 1.0"``: 1 to 8 numbers from 0 to 2 (a list of numbers works too)."""
    if isinstance(text, (list, tuple)):
        parts: list[Any] = list(text)
    elif isinstance(text, str):
        parts = [part for part in re.split(r"[,;\s]+", text.strip()) if part]
    else:
        raise ConfigError(f"temperatures must be text like '0, 0.5, 1.0', got {type(text).__name__}")
    if not parts:
        raise ConfigError("temperatures must list at least one number, like '0, 0.5, 1.0'")
    if len(parts) > MAX_SWEEP_TEMPERATURES:
        raise ConfigError(f"a sweep takes at most {MAX_SWEEP_TEMPERATURES} temperatures, got {len(parts)}")
    return [views.check_temperature(part) for part in parts]


def check_count(count: Any) -> int:
    """How many samples: a whole number from 2 to 8."""
    allowed = f"a whole number from {MIN_SAMPLES} to {MAX_SAMPLES}"
    value = views._whole(count, "number of samples", allowed)
    if not MIN_SAMPLES <= value <= MAX_SAMPLES:
        raise ConfigError(f"number of samples must be {allowed}, got {views._shown(count)}")
    return value


def check_width(width: Any) -> int:
    """A beam width: a whole number from 2 to 16."""
    allowed = f"a whole number from {MIN_WIDTH} to {MAX_WIDTH}"
    value = views._whole(width, "beam width", allowed)
    if not MIN_WIDTH <= value <= MAX_WIDTH:
        raise ConfigError(f"beam width must be {allowed}, got {views._shown(width)}")
    return value


def check_text(text: Any) -> str:
    """A text to look inside: 1 to 2,000 characters (``None`` is empty, and refused)."""
    if text is None or text == "":
        raise ConfigError("text is empty; type or paste a text to look inside")
    if not isinstance(text, str):
        raise ConfigError(f"text must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ConfigError(f"text is {len(text):,} characters long; the limit is {MAX_TEXT:,}")
    return text


def _model(models: Mapping[str, CharRNN], name: Any) -> CharRNN:
    return models[_model_name(models, name)]


def _model_name(models: Mapping[str, CharRNN], name: Any) -> str:
    """One of ``models`` by name (blank = the first), checked as the Generate request's model is."""
    return views.check_model_name(name, list(models))


# --- answers (the API's JSON) -------------------------------------------------------------------


def sweep_answer(
    models: Mapping[str, CharRNN], prompt: Any, length: Any, temperatures: Any, seed: Any, model_name: Any
) -> list[dict[str, object]]:
    """``/sweep``: one entry per temperature, in the order given, all with the same seed."""
    from chargen.inference import inside

    prompt, length = views.check_prompt(prompt), views.check_length(length)
    parsed, seed_value = check_temperatures(temperatures), views.check_seed(seed)
    model = _model(models, model_name)
    return [entry.to_dict() for entry in inside.sweep(model, prompt, length, parsed, seed=seed_value)]


def samples_answer(
    models: Mapping[str, CharRNN], prompt: Any, length: Any, temperature: Any, count: Any, seed: Any, model_name: Any
) -> list[dict[str, object]]:
    """``/samples``: ``count`` continuations at one temperature, with seeds ``s, s + 1, ...``."""
    from chargen.inference import inside

    prompt, length = views.check_prompt(prompt), views.check_length(length)
    temperature_value, count_value = views.check_temperature(temperature), check_count(count)
    seed_value = views.check_seed(seed)
    model = _model(models, model_name)
    entries = inside.samples(model, prompt, length, temperature_value, count_value, seed=seed_value)
    return [entry.to_dict() for entry in entries]


def expectations_answer(models: Mapping[str, CharRNN], text: Any, model_name: Any) -> list[dict[str, object]]:
    """``/expectations``: per character after the first, ``{"char", "p", "top"}``."""
    from chargen.inference import inside

    text = check_text(text)
    model = _model(models, model_name)
    return [entry.to_dict() for entry in inside.expectations(model, text)]


def adapt_answer(
    models: Mapping[str, CharRNN], text: Any, model_name: Any, lrs: Mapping[str, float] | None = None
) -> dict[str, object]:
    """``/adapt``: how the loss falls as the model reads ``text``, as it is and adapting a copy of itself
    (dynamic evaluation): after each segment, the characters read and each one's mean loss so far
    (nats per character); the last points are ``chargen eval``'s and ``chargen eval --adapt``'s figures.
    The served model is never changed. ``lrs``: the models' stored learning rates (default: the library's)."""
    from chargen.model import CharRNN
    from chargen.training.dynamic_eval import AdaptSettings, adaptation_curve

    text = check_text(text)
    name = _model_name(models, model_name)
    model, lr = models[name], (lrs or {}).get(name)
    if not isinstance(model, CharRNN) or model.unit != "char":
        raise ConfigError("reading while adapting needs a character-level network (not a word or n-gram model)")
    settings = AdaptSettings(lr=lr) if lr is not None else AdaptSettings()
    if len(text) < 2:
        raise ConfigError("text is too short; it needs at least 2 characters to score")
    curve = adaptation_curve(model, text, settings)
    return {
        "chars": list(curve.chars),
        "static": [round(x, 4) for x in curve.static],
        "adapted": [round(x, 4) for x in curve.adapted],
        "static_nats_per_char": round(curve.static[-1], 4),
        "adapted_nats_per_char": round(curve.adapted[-1], 4),
        "lr": settings.lr,
        "segment": settings.segment,
    }


def adapt_rows(answer: dict[str, Any] | None) -> Any:
    """``/adapt``'s curves as the view's line plot takes them: characters read, loss, which curve."""
    import pandas as pd

    rows = []
    if answer:
        for name, label in (("static", "as trained"), ("adapted", "adapting as it reads")):
            rows += [(float(c), float(v), label) for c, v in zip(answer["chars"], answer[name], strict=True)]
    frame = pd.DataFrame(rows, columns=["characters read", "nats per character", "model"])
    return frame.astype({"characters read": "float64", "nats per character": "float64"})


def adapt_summary(answer: dict[str, Any] | None) -> str:
    """The view's line under the plot."""
    if not answer:
        return ""
    static, adapted = answer["static_nats_per_char"], answer["adapted_nats_per_char"]
    return (
        f"As trained: **{static:.3f}** nats per character; adapting as it reads: **{adapted:.3f}** "
        f"({adapted - static:+.3f}). The copy took a step after every {answer['segment']} characters "
        f"(learning rate {answer['lr']:g}); the served model is unchanged."
    )


def cells_answer(models: Mapping[str, CharRNN], text: Any, model_name: Any) -> list[dict[str, object]]:
    """``/cells``: units ranked by ``|r|`` with the text's properties, best first."""
    from chargen.inference import inside

    text = check_text(text)
    name = _model_name(models, model_name)
    recorded = _activations(models[name], text)
    return [match.to_dict() for match in inside.find_cells(recorded, per_property=CELLS_PER_PROPERTY)]


def beam_answer(
    models: Mapping[str, CharRNN], prompt: Any, length: Any, width: Any, model_name: Any
) -> dict[str, object]:
    """``/beam``: ``{"text", "logprob", "loop"}``."""
    from chargen.inference import inside

    prompt, length, width_value = views.check_prompt(prompt), views.check_length(length), check_width(width)
    model = _model(models, model_name)
    return inside.beam_search(model, prompt, length, width=width_value).to_dict()


@functools.lru_cache(maxsize=2)
def _activations(model: CharRNN, text: str) -> inside.Activations:
    """The activations of ``text``, remembered for the last two texts: colouring another unit of the
    text the finder just read needs no second pass (2,000 characters of a 2x512 LSTM take 16 MB)."""
    from chargen.inference import inside

    return inside.activations(model, text)


def continuation_text(
    models: Mapping[str, CharRNN], prompt: Any, answer: Sequence[Mapping[str, Any]], model_name: Any
) -> str:
    """The prompt as generation read it (unknown characters left out; the default start when
    nothing was left) and the first entry's continuation, cut to :data:`MAX_TEXT`: a text for
    "What it expected"."""
    from chargen.inference.generate import prepare_prompt

    model = _model(models, model_name)
    if not answer:
        raise ConfigError("there is no continuation yet: continue the prompt first")
    read = prepare_prompt(model, views.check_prompt(prompt)).text
    return (read + str(answer[0]["text"]))[:MAX_TEXT]


# --- what the components show -------------------------------------------------------------------


def entry_label(entry: Mapping[str, Any]) -> str:
    """A sweep entry's heading, e.g. ``T = 0.6 · seed 7``; greedy for T = 0."""
    temperature = float(entry["temperature"])
    name = "greedy (T = 0)" if temperature == 0 else f"T = {temperature:g}"
    return f"{name} · seed {entry['seed']}" if temperature else name


def entry_info(entry: Mapping[str, Any]) -> str:
    """A sweep entry's loop line, or that it does not loop."""
    return str(entry["loop"]) if entry.get("loop") else "does not fall into a loop"


def surprise(p: float) -> float:
    """How surprising a character the model gave probability ``p`` is, from 0 (sure) to 1 (2**-8 or less)."""
    if p <= 0.0:
        return 1.0
    return min(1.0, max(0.0, -math.log2(p) / SURPRISE_BITS))


def expectation_highlights(text: str, answer: Sequence[Mapping[str, Any]]) -> list[tuple[str, float | None]]:
    """``(piece, surprise)`` pairs for a HighlightedText, one per character (a word model: per token,
    all its characters in one piece): the first piece has no score."""
    if not text:
        return []
    # The entries are the steps after the first: whatever of the text they do not cover is the first step.
    first = text[: len(text) - sum(len(entry["char"]) for entry in answer)]
    return [(first, None)] + [(entry["char"], round(surprise(float(entry["p"])), 3)) for entry in answer]


def guesses(answer: Sequence[Mapping[str, Any]], index: int, unit: str = "char") -> tuple[dict[str, float], str]:
    """For the character (a word model's token: ``unit="word"``) at ``index`` of the text: its top
    guesses as a Label's ``{label: p}`` and one line.

    Index 0 (the first character) had nothing before it to guess from.
    """
    step = step_name(unit)
    if index <= 0 or index > len(answer):
        return {}, f"The first {step} has nothing before it: the model guesses from the second one on."
    entry = answer[index - 1]
    top = {f"{i + 1}. {display_char(ch)}": float(p) for i, (ch, p) in enumerate(entry["top"])}
    char = display_char(entry["char"])
    rank = next((i + 1 for i, (ch, _) in enumerate(entry["top"]) if ch == entry["char"]), None)
    place = f"its guess number {rank}" if rank else f"not in its top {len(entry['top'])}"
    return (
        top,
        f"{step.capitalize()} {index + 1}, **{views.markdown_text(char)}**: the model gave it p = {entry['p']:.3f}, "
        f"{place}.",
    )


def expectations_summary(answer: Sequence[Mapping[str, Any]], unit: str = "char") -> str:
    """One line: how often the model's first guess was right and its loss on the text (per character,
    and for a word model per token too)."""
    step = step_name(unit)
    if not answer:
        return f"A text of one {step}: nothing to guess."
    right = sum(1 for e in answer if e["top"] and e["top"][0][0] == e["char"])
    nats = -sum(math.log(max(float(e["p"]), 1e-300)) for e in answer)
    chars = sum(len(e["char"]) for e in answer)
    loss = f"it lost {nats / chars:.2f} nats per character"
    if unit == "word":
        loss += f" ({nats / len(answer):.2f} per token)"
    return (
        f"The model's first guess was right for {right} of {len(answer)} {step}s "
        f"({100 * right / len(answer):.0f}%); {loss}. "
        f"Darker red = more surprising. Click a {step} to see what the model expected there."
    )


def cells_rows(answer: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The finder's list as table rows: layer, kind, unit, property, r (rounded)."""
    return [[m["layer"], m["kind"], m["unit"], m["property"], round(float(m["r"]), 3)] for m in answer]


def unit_highlights(
    models: Mapping[str, CharRNN], text: Any, model_name: Any, layer: Any, kind: Any, unit: Any
) -> tuple[list[tuple[str, float]], str]:
    """``text`` coloured by one unit: ``(character, activation scaled to [-1, 1])`` pairs (a word
    model's: one pair per token, all its characters coloured by the state after it), and a line about it.

    Hidden states are in (-1, 1) already; an LSTM cell state is divided by its largest magnitude in the text.
    """
    text = check_text(text)
    name = _model_name(models, model_name)
    model = models[name]
    layer_value = views._whole(layer, "layer", f"a whole number from 0 to {model.config.num_layers - 1}")
    unit_value = views._whole(unit, "unit", f"a whole number from 0 to {model.config.hidden_size - 1}")
    recorded = _activations(model, text)
    values = recorded.unit(layer_value, str(kind), unit_value)
    scale = max(1.0, max(abs(v) for v in values)) if kind == "cell" else 1.0
    pairs = [(piece, round(v / scale, 3)) for piece, v in zip(recorded.steps, values, strict=True)]
    scaled = f" (divided by {scale:.2f}, its largest magnitude here)" if scale != 1.0 else ""
    line = (
        f"Layer {layer_value}, {kind} state, unit {unit_value}{scaled}: red where it is positive, "
        f"blue where it is negative, after reading each {step_name(model.unit)}."
    )
    return pairs, line


def beam_summary(answer: Mapping[str, Any], length: int) -> str:
    """One line about a beam's text: its log-probability, per character, and its loop line."""
    logprob = float(answer["logprob"])
    loop = answer.get("loop") or "the beam's text does not fall into a loop"
    return (
        f"log-probability {logprob:.1f} ({logprob / max(length, 1):.3f} per character, "
        f"perplexity {math.exp(-logprob / max(length, 1)):.2f}); {loop}"
    )
