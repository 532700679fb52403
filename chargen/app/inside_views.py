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

from chargen.app import i18n, views
from chargen.checks import MAX_SEED
from chargen.errors import ConfigError
from chargen.inference.loops import Loop, find_loop

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


WHITESPACE_NAMES = {
    "\n": i18n.text("inside.char.line_break"),
    " ": i18n.text("inside.char.space"),
    "\t": i18n.text("inside.char.tab"),
}


def display_char(ch: str) -> str:
    """A character (or a word model's token) as a label: names for whitespace, e.g. ``2 line breaks,
    4 spaces`` for a run of it, escapes for the invisible."""
    if ch in WHITESPACE_NAMES:
        return WHITESPACE_NAMES[ch]
    if ch and all(c in WHITESPACE_NAMES for c in ch):
        runs = [(c, len(list(group))) for c, group in itertools.groupby(ch)]
        return ", ".join(WHITESPACE_NAMES[c] if n == 1 else _whitespace_run(c, n) for c, n in runs)
    return ch if ch.isprintable() else ascii(ch)


def _whitespace_run(ch: str, count: int) -> str:
    # Literal keys, so the catalogue test sees each one used.
    if ch == "\n":
        return i18n.text("inside.char.line_breaks", count=count)
    if ch == " ":
        return i18n.text("inside.char.spaces", count=count)
    return i18n.text("inside.char.tabs", count=count)


KIND_NAMES = {"hidden": i18n.text("inside.kind.hidden"), "cell": i18n.text("inside.kind.cell")}
"""A unit's state kinds (:data:`chargen.inference.inside.CELL_KINDS`) as the page names them."""
PROPERTY_NAMES = {
    "inside quotes": i18n.text("inside.property.inside_quotes"),
    "inside brackets": i18n.text("inside.property.inside_brackets"),
    "position in line": i18n.text("inside.property.position_in_line"),
    "start of line": i18n.text("inside.property.start_of_line"),
    "speaker name": i18n.text("inside.property.speaker_name"),
    "start of speaker name": i18n.text("inside.property.start_of_speaker_name"),
    "indentation": i18n.text("inside.property.indentation"),
}
"""The cell finder's properties (:data:`chargen.inference.inside.PROPERTIES`) as the page names them."""


def kind_name(kind: str) -> str:
    """A state kind (``"hidden"``, ``"cell"``) in the catalogue's words."""
    return KIND_NAMES.get(kind, kind)


def property_name(name: str) -> str:
    """A property the cell finder tries, in the catalogue's words."""
    return PROPERTY_NAMES.get(name, name)


def step_name(unit: str) -> str:
    """What one step of a model of ``unit`` reads: ``"character"``, or ``"token"`` for a word model."""
    return i18n.text("inside.word.token") if unit == "word" else i18n.text("inside.word.character")


# --- inputs -------------------------------------------------------------------------------------


def check_temperatures(text: Any) -> list[float]:
    """Temperatures typed as text, e.g. ``"0, 0.5, 1.0"``: 1 to 8 numbers from 0 to 2 (a list of numbers works too)."""
    if isinstance(text, (list, tuple)):
        parts: list[Any] = list(text)
    elif isinstance(text, str):
        parts = [part for part in re.split(r"[,;\s]+", text.strip()) if part]
    else:
        raise ConfigError(i18n.text("inside.error.temperatures_type", type=type(text).__name__))
    if not parts:
        raise ConfigError(i18n.text("inside.error.temperatures_empty"))
    if len(parts) > MAX_SWEEP_TEMPERATURES:
        raise ConfigError(i18n.text("inside.error.temperatures_many", limit=MAX_SWEEP_TEMPERATURES, count=len(parts)))
    return [views.check_temperature(part) for part in parts]


def check_count(count: Any) -> int:
    """How many samples: a whole number from 2 to 8."""
    allowed = i18n.text("inside.error.whole_number", low=MIN_SAMPLES, high=MAX_SAMPLES)
    name = i18n.text("inside.error.samples_name")
    value = views._whole(count, name, allowed)
    if not MIN_SAMPLES <= value <= MAX_SAMPLES:
        raise ConfigError(i18n.text("error.must_be", name=name, allowed=allowed, value=views._shown(count)))
    return value


def check_width(width: Any) -> int:
    """A beam width: a whole number from 2 to 16."""
    allowed = i18n.text("inside.error.whole_number", low=MIN_WIDTH, high=MAX_WIDTH)
    name = i18n.text("inside.error.width_name")
    value = views._whole(width, name, allowed)
    if not MIN_WIDTH <= value <= MAX_WIDTH:
        raise ConfigError(i18n.text("error.must_be", name=name, allowed=allowed, value=views._shown(width)))
    return value


def check_text(text: Any) -> str:
    """A text to look inside: 1 to 2,000 characters (``None`` is empty, and refused)."""
    if text is None or text == "":
        raise ConfigError(i18n.text("inside.error.text_empty"))
    if not isinstance(text, str):
        raise ConfigError(i18n.text("inside.error.text_type", type=type(text).__name__))
    if len(text) > MAX_TEXT:
        raise ConfigError(i18n.text("inside.error.text_long", length=f"{len(text):,}", limit=f"{MAX_TEXT:,}"))
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
    if seed_value is not None and seed_value + count_value - 1 > MAX_SEED:  # the library's refusal, in the page's words
        last = count_value - 1
        raise ConfigError(i18n.text("inside.error.samples_seed", count=count_value, last=last, seed=seed_value))
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
        raise ConfigError(i18n.text("inside.error.adapt_model"))
    settings = AdaptSettings(lr=lr) if lr is not None else AdaptSettings()
    if len(text) < 2:
        raise ConfigError(i18n.text("inside.error.adapt_short"))
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


ADAPT_AS_TRAINED = i18n.text("inside.adapt.as_trained")
ADAPT_ADAPTING = i18n.text("inside.adapt.adapting")
"""The names of the adapting view's two curves (the plot's colours)."""
ADAPT_COLUMNS = (i18n.text("inside.adapt.x"), i18n.text("inside.adapt.y"), i18n.text("inside.adapt.curve"))
"""The adapting view's plot columns, named as its axes show them: characters read, loss, which curve."""


def adapt_rows(answer: dict[str, Any] | None) -> Any:
    """``/adapt``'s curves as the view's line plot takes them: characters read, loss, which curve."""
    import pandas as pd

    x, y, curve = ADAPT_COLUMNS
    rows = []
    if answer:
        for name, label in (("static", ADAPT_AS_TRAINED), ("adapted", ADAPT_ADAPTING)):
            rows += [(float(c), float(v), label) for c, v in zip(answer["chars"], answer[name], strict=True)]
    frame = pd.DataFrame(rows, columns=[x, y, curve])
    return frame.astype({x: "float64", y: "float64"})


def adapt_summary(answer: dict[str, Any] | None) -> str:
    """The view's line under the plot."""
    if not answer:
        return ""
    static, adapted = answer["static_nats_per_char"], answer["adapted_nats_per_char"]
    values = {"static": f"{static:.3f}", "adapted": f"{adapted:.3f}", "change": f"{adapted - static:+.3f}"}
    return i18n.text("inside.adapt.summary", segment=answer["segment"], lr=f"{answer['lr']:g}", **values)


def cells_answer(models: Mapping[str, CharRNN], text: Any, model_name: Any) -> list[dict[str, object]]:
    """``/cells``: units ranked by ``|r|`` with the text's properties, best first."""
    from chargen.inference import inside

    text = check_text(text)
    name = _model_name(models, model_name)
    _check_has_cells(models[name])
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


def _check_has_cells(model: CharRNN) -> None:
    """Refuse an n-gram model (counts, no network state) as the library does, in the page's words."""
    if getattr(model, "cell", None) == "ngram":
        raise ConfigError(i18n.text("inside.error.ngram_cells"))


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
        raise ConfigError(i18n.text("inside.error.no_continuation"))
    read = prepare_prompt(model, views.check_prompt(prompt)).text
    return (read + str(answer[0]["text"]))[:MAX_TEXT]


# --- what the components show -------------------------------------------------------------------


def entry_label(entry: Mapping[str, Any]) -> str:
    """A sweep entry's heading, e.g. ``T = 0.6 · seed 7``; greedy for T = 0."""
    temperature = float(entry["temperature"])
    if temperature == 0:
        return i18n.text("inside.sweep.greedy")
    return i18n.text("inside.sweep.label", temperature=f"{temperature:g}", seed=entry["seed"])


def entry_info(entry: Mapping[str, Any]) -> str:
    """A sweep entry's loop line (the API's ``loop``, in the catalogue's words), or that it does not loop."""
    if not entry.get("loop"):
        return i18n.text("inside.sweep.no_loop")
    loop = _loop_of(entry)
    if loop is None:
        return str(entry["loop"])
    temperature = float(entry["temperature"])
    name = (
        i18n.text("inside.sweep.greedy")
        if temperature == 0
        else i18n.text("inside.sweep.at", temperature=f"{temperature:g}")
    )
    if loop.period == 1:
        return i18n.text("inside.sweep.loop_one", name=name, start=loop.start + 1)
    return i18n.text("inside.sweep.loop", name=name, period=loop.period, start=loop.start + 1)


def _loop_of(answer: Mapping[str, Any]) -> Loop | None:
    """The loop an answer's ``loop`` line describes, found again in its text (the line is the library's
    English; the page words it from the catalogue): ``None`` when the answer has no loop."""
    return find_loop(str(answer["text"])) if answer.get("loop") and "text" in answer else None


def _whole_texts(unit: str) -> bool:
    """Whether a model of ``unit`` reads whole tokens (a word model) rather than characters."""
    return unit == "word"


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
    tokens = _whole_texts(unit)
    if index <= 0 or index > len(answer):
        first = i18n.text("inside.expect.first_token") if tokens else i18n.text("inside.expect.first_char")
        return {}, first
    entry = answer[index - 1]
    top = {guess_label(i + 1, ch): float(p) for i, (ch, p) in enumerate(entry["top"])}
    rank = next((i + 1 for i, (ch, _) in enumerate(entry["top"]) if ch == entry["char"]), None)
    values = {"index": index + 1, "char": views.markdown_text(display_char(entry["char"])), "p": f"{entry['p']:.3f}"}
    if rank and tokens:
        line = i18n.text("inside.expect.token_guessed", rank=rank, **values)
    elif rank:
        line = i18n.text("inside.expect.char_guessed", rank=rank, **values)
    elif tokens:
        line = i18n.text("inside.expect.token_missed", count=len(entry["top"]), **values)
    else:
        line = i18n.text("inside.expect.char_missed", count=len(entry["top"]), **values)
    return top, line


def guess_label(rank: int, guess: str) -> str:
    """A top guess as the guesses panel lists it, ``"2. e"``: whitespace by name (``"1. line break"``), in the
    catalogue's words; any other guess is the model's own text, shown as it is."""
    if guess == "\n":
        return i18n.text("inside.expect.guess_line_break", rank=rank)
    if guess == " ":
        return i18n.text("inside.expect.guess_space", rank=rank)
    if guess == "\t":
        return i18n.text("inside.expect.guess_tab", rank=rank)
    if len(guess) > 1 and set(guess) == {"\n"}:
        return i18n.text("inside.expect.guess_line_breaks", rank=rank, count=len(guess))
    if len(guess) > 1 and set(guess) == {" "}:
        return i18n.text("inside.expect.guess_spaces", rank=rank, count=len(guess))
    if len(guess) > 1 and set(guess) == {"\t"}:
        return i18n.text("inside.expect.guess_tabs", rank=rank, count=len(guess))
    # Not "{rank}. {char}" from the catalogue: the page would then translate a guess that is itself a
    # catalogue word (a word model's "kind", say), and a guess is the model's text.
    return f"{rank}. {display_char(guess)}"


def expectations_summary(answer: Sequence[Mapping[str, Any]], unit: str = "char") -> str:
    """One line: how often the model's first guess was right and its loss on the text (per character,
    and for a word model per token too)."""
    tokens = _whole_texts(unit)
    if not answer:
        return i18n.text("inside.expect.one_token") if tokens else i18n.text("inside.expect.one_char")
    right = sum(1 for e in answer if e["top"] and e["top"][0][0] == e["char"])
    nats = -sum(math.log(max(float(e["p"]), 1e-300)) for e in answer)
    chars = sum(len(e["char"]) for e in answer)
    values = {
        "right": right,
        "count": len(answer),
        "percent": f"{100 * right / len(answer):.0f}",
        "nats": f"{nats / chars:.2f}",
    }
    if tokens:
        return i18n.text("inside.expect.summary_tokens", per_token=f"{nats / len(answer):.2f}", **values)
    return i18n.text("inside.expect.summary_chars", **values)


def cells_rows(answer: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The finder's list as table rows: layer, kind, unit, property, r (rounded)."""
    return [[m["layer"], m["kind"], m["unit"], m["property"], round(float(m["r"]), 3)] for m in answer]


def unit_highlights(
    models: Mapping[str, CharRNN],
    text: Any,
    model_name: Any,
    layer: Any,
    kind: Any,
    unit: Any,
    match: str | None = None,
    r: float = 0.0,
    best: bool = False,
) -> tuple[list[tuple[str, float]], str]:
    """``text`` coloured by one unit: ``(character, activation scaled to [-1, 1])`` pairs (a word
    model's: one pair per token, all its characters coloured by the state after it), and a line about it
    (led by the property the unit follows, ``match``, and its ``r`` when given: see :func:`unit_line`).

    Hidden states are in (-1, 1) already; an LSTM cell state is divided by its largest magnitude in the text.
    """
    text = check_text(text)
    name = _model_name(models, model_name)
    model = models[name]
    _check_has_cells(model)
    layers = i18n.text("inside.error.whole_number", low=0, high=model.config.num_layers - 1)
    units = i18n.text("inside.error.whole_number", low=0, high=model.config.hidden_size - 1)
    layer_value = views._whole(layer, i18n.text("inside.cells.layer"), layers)
    unit_value = views._whole(unit, i18n.text("inside.cells.unit"), units)
    recorded = _activations(model, text)
    values = recorded.unit(layer_value, str(kind), unit_value)
    scale = max(1.0, max(abs(v) for v in values)) if kind == "cell" else 1.0
    pairs = [(piece, round(v / scale, 3)) for piece, v in zip(recorded.steps, values, strict=True)]
    return pairs, unit_line(layer_value, str(kind), unit_value, scale, model.unit, match, r, best)


def unit_line(
    layer: int,
    kind: str,
    unit: int,
    scale: float,
    model_unit: str,
    match: str | None = None,
    r: float = 0.0,
    best: bool = False,
) -> str:
    """The line about a unit's colours: its layer, state kind and number, how its values were scaled
    (``scale``; 1 = as they are), and what one step reads (``model_unit``: a model's unit). With ``match``,
    the property the unit follows and its ``r`` lead the line ("The best match: ..." with ``best``)."""
    values = {"layer": layer, "kind": kind_name(kind), "unit": unit, "step": step_name(model_unit)}
    values.update(property=property_name(match or ""), r=f"{r:.2f}", scale=f"{scale:.2f}")
    scaled = scale != 1.0
    if match is None:
        return i18n.text("inside.unit.line_scaled", **values) if scaled else i18n.text("inside.unit.line", **values)
    if best:
        return i18n.text("inside.cells.best_scaled", **values) if scaled else i18n.text("inside.cells.best", **values)
    return i18n.text("inside.cells.row_scaled", **values) if scaled else i18n.text("inside.cells.row", **values)


def beam_summary(answer: Mapping[str, Any], length: int) -> str:
    """One line about a beam's text: its log-probability, per character, and its loop line."""
    logprob = float(answer["logprob"])
    values = {
        "logprob": f"{logprob:.1f}",
        "per_char": f"{logprob / max(length, 1):.3f}",
        "perplexity": f"{math.exp(-logprob / max(length, 1)):.2f}",
    }
    if not answer.get("loop"):
        return i18n.text("inside.beam.summary", **values)
    loop = _loop_of(answer)
    if loop is None:  # no text to find it in again: the API's own line
        return i18n.text("inside.beam.summary_line", line=answer["loop"], **values)
    if loop.period == 1:
        return i18n.text("inside.beam.summary_loop_one", start=loop.start + 1, **values)
    return i18n.text("inside.beam.summary_loop", period=loop.period, start=loop.start + 1, **values)
