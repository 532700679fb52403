"""What the app shows, made from chargen's results: the app's limits and input checks, the models it
offers (by short name), the loop line in words, the data the page draws (texts, probabilities, the
loop, where greedy and sampled part) and the distribution at any step.

The Gradio app (``app.py``) only wires widgets to these functions and the page's script
(``chargen.app.page``) draws what they return; nothing here imports gradio, so every view can be
tested on its own. Bad input raises :class:`~chargen.errors.ConfigError` with a message meant for
a person; the app shows it as a ``gr.Error``.
"""

from __future__ import annotations

import html
import math
import re
import reprlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chargen import checks
from chargen.app import i18n
from chargen.checks import MAX_PROMPT_CHARS, MAX_SEED
from chargen.errors import ConfigError
from chargen.hub import BUNDLED_MODELS  # what the app offers when CHARGEN_MODELS is unset

# The page is served before torch is imported (chargen.app.demo.main): what needs torch is imported where used.
if TYPE_CHECKING:
    from chargen.inference.generate import Comparison
    from chargen.inference.loops import Loop
    from chargen.inference.settings import SamplingSettings
    from chargen.model import CharRNN

# The app's limits. Generation itself allows more (chargen.checks.MAX_TEMPERATURE, chargen.checks.MAX_LENGTH);
# a public page keeps each request small.
APP_MIN_TEMPERATURE, APP_MAX_TEMPERATURE, APP_DEFAULT_TEMPERATURE = 0.0, 2.0, 0.8
APP_MIN_LENGTH, APP_MAX_LENGTH, APP_DEFAULT_LENGTH = 10, 2000, 300
APP_MAX_TOP_K = 200
APP_MAX_PROMPT = MAX_PROMPT_CHARS
"""A longer prompt is refused: generation would only read its last ``MAX_PROMPT_CHARS`` anyway."""
APP_MAX_SEED_CHARS = 20
"""The seed box's length on the page: enough for any seed up to 2**63 - 1."""
APP_DEFAULT_PROMPT = "ROMEO:\nI love thee "
"""The page's first prompt: after it the next character is uncertain, so the chart has something to show."""

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One Generate click, checked: what :func:`chargen.inference.generate.stream_compare` is called with."""

    prompt: str
    temperature: float
    length: int
    top_k: int | None
    top_p: float | None
    seed: int | None
    model_name: str

    @property
    def sampling(self) -> SamplingSettings:
        """The library's settings object for this request's sampling."""
        from chargen.inference.settings import SamplingSettings

        return SamplingSettings(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self.seed)


_SHORT_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxlong, _SHORT_REPR.maxother = 1, 40, 40, 40


def _shown(value: Any) -> str:
    """``value`` quoted for an error message, cut short: a visitor's huge input is never echoed back whole."""
    return _SHORT_REPR.repr(value)


def _number(value: Any, name: str, allowed: str) -> float:
    """``value`` as a finite float; numbers may come as strings through the API. Blank is refused as empty,
    never read as a bound: an emptied box on the page says so instead of running at its slider's minimum."""
    if _blank(value):
        raise ConfigError(f"{name} must be {allowed}, got nothing (an empty box)")
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
    """The prompt as typed; ``None`` is empty; more than :data:`APP_MAX_PROMPT` characters is refused."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > APP_MAX_PROMPT:
        raise ConfigError(f"prompt is {len(prompt):,} characters long; the limit is {APP_MAX_PROMPT:,}")
    return prompt


def check_temperature(temperature: Any) -> float:
    """A temperature from the page or the API: a number from 0 (greedy) to 2."""
    allowed = f"a number from {APP_MIN_TEMPERATURE:g} to {APP_MAX_TEMPERATURE:g} (0 = greedy)"
    value = _number(temperature, "temperature", allowed)
    if not APP_MIN_TEMPERATURE <= value <= APP_MAX_TEMPERATURE:
        raise ConfigError(f"temperature must be {allowed}, got {_shown(temperature)}")
    return checks.check_temperature(value)  # the library's rules for the rest (a vanishing one is 0)


def check_length(length: Any) -> int:
    """How many characters to generate: a whole number from 10 to 2000."""
    allowed = f"a whole number of characters from {APP_MIN_LENGTH} to {APP_MAX_LENGTH}"
    value = _whole(length, "length", allowed)
    if not APP_MIN_LENGTH <= value <= APP_MAX_LENGTH:
        raise ConfigError(f"length must be {allowed}, got {_shown(length)}")
    return value


def check_top_k(top_k: Any) -> int | None:
    """Top-k: blank or 0 means off, else a whole number from 1 to 200."""
    if _blank(top_k):
        return None
    allowed = f"a whole number from 0 (off) to {APP_MAX_TOP_K}"
    value = _whole(top_k, "top-k", allowed)
    if not 0 <= value <= APP_MAX_TOP_K:
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
    return None if value == 1.0 else checks.check_top_p(value)


def check_seed(seed: Any) -> int | None:
    """A seed: blank means a fresh random one, else a whole number from 0 to 2**63 - 1."""
    if _blank(seed):
        return None
    allowed = "blank (random) or a whole number from 0 to 9223372036854775807"
    value = _whole(seed, "seed", allowed)
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"seed must be {allowed}, got {_shown(seed)}")
    return value


# --- the models the app offers ----------------------------------------------------------------------


@dataclass(frozen=True)
class OfferedModel:
    """A loaded model as the app offers it: its short name, where it came from, what its card says."""

    name: str
    model: CharRNN
    source: str = ""
    """The folder or Hub repo id it was loaded from; accepted as an alias of ``name``."""
    facts: str = ""
    """One line from its model card: data, size, held-out figure (empty when there is no card)."""

    @property
    def description(self) -> str:
        """The architecture in words, e.g. ``a 2-layer LSTM (512 units)``."""
        config = self.model.config
        if self.model.cell == "ngram":  # a Markov chain: counts of what followed each context
            return i18n.text("page.description_ngram", order=config.order)
        if config.num_layers > 1:
            return i18n.text(
                "page.description_layers", layers=config.num_layers, cell=config.cell.upper(), units=config.hidden_size
            )
        return i18n.text("page.description", cell=config.cell.upper(), units=config.hidden_size)


def millions(count: int) -> str:
    """``count`` in millions as the header says it: one decimal, or two significant digits below 0.1 M (a
    model trained in the app has ~30,000 parameters: "0.030", not "0.0")."""
    if count >= 100_000 or count == 0:
        return f"{count / 1e6:.1f}"
    return f"{count / 1e6:.2g}" if count >= 10_000 else f"{count / 1e6:.1g}"


def header_markdown(offered: OfferedModel) -> str:
    """The page's title and first lines, describing the selected model."""
    return f"# {i18n.text('page.title')}\n" + i18n.text(
        "page.header",
        name=offered.name,
        description=offered.description,
        millions=millions(parameter_count(offered.model)),
        numbers=i18n.text("page.counts" if offered.model.cell == "ngram" else "page.parameters"),
        how=i18n.text("page.how_word" if offered.model.unit == "word" else "page.how_char"),
        unit=_unit_name(offered.model),
    )


def _unit_name(model: CharRNN) -> str:
    return i18n.text("page.unit_token" if model.unit == "word" else "page.unit_character")


def facts_markdown(offered: OfferedModel) -> str:
    """The selected model's facts for the page: its shape, vocabulary and size, and what its card says."""
    config = offered.model.config
    card = markdown_text(offered.facts) if offered.facts else i18n.text("generate.no_card")
    shared = {"name": offered.name, "vocabulary": _vocabulary_size(offered.model), "card": card}
    count = f"{parameter_count(offered.model):,}"
    if offered.model.cell == "ngram":
        return i18n.text(
            "generate.facts_ngram", order=config.order, size=i18n.text("generate.size_counts", count=count), **shared
        )
    layers = i18n.text("generate.layers" if config.num_layers > 1 else "generate.layer", count=config.num_layers)
    size = i18n.text("generate.size_parameters", count=count)
    return i18n.text(
        "generate.facts", cell=config.cell.upper(), layers=layers, units=config.hidden_size, size=size, **shared
    )


def _vocabulary_size(model: CharRNN) -> str:
    """``65 characters``, or for a word model ``4,000 tokens (65 characters and 3,935 words and spaces)``."""
    vocab = model.vocab
    if model.unit != "word":
        return i18n.text("generate.vocabulary_chars", count=len(vocab))
    chars = len(vocab.chars)
    return i18n.text("generate.vocabulary_words", count=f"{len(vocab):,}", chars=chars, words=f"{len(vocab) - chars:,}")


def card_facts(folder: str | Path) -> str:
    """One line from a model card's front matter: what it was trained on and its held-out figure (the card's
    fields as written, the words around them from the catalogue)."""
    card = Path(folder) / "README.md"
    if not card.is_file():
        return ""
    try:
        from huggingface_hub import metadata_load

        meta = metadata_load(card) or {}
    except Exception:  # a card that can't be read is no reason not to serve the model
        return ""
    parts = []
    for entry in meta.get("model-index") or []:
        for result in entry.get("results") or []:
            dataset = (result.get("dataset") or {}).get("name")
            for metric in result.get("metrics") or []:
                value, name = metric.get("value"), metric.get("name") or metric.get("type")
                if isinstance(value, (int, float)) and name:
                    if dataset:
                        parts.append(
                            i18n.text("generate.card_metric", metric=name, dataset=dataset, value=f"{value:.2f}")
                        )
                    else:
                        parts.append(f"{name}: {value:.2f}")  # the card's own words and a number
    datasets = meta.get("datasets") or []
    trained = i18n.text("generate.card_trained", datasets=", ".join(map(str, datasets))) if datasets else ""
    return "; ".join(p for p in [trained, *parts] if p)


def short_name(source: str) -> str:
    """A model's short name from its folder or repo id: ``checkpoints/python`` -> ``python``; a Hub
    repo's revision and the ``chargen-`` prefix deploy gives repos are dropped
    (``alice/chargen-shakespeare@3f9a...`` -> ``shakespeare``), so a Space offers the names a local run does."""
    for name, folder in BUNDLED_MODELS.items():
        if source == folder or source.rstrip("/").endswith("/" + folder):
            return name
    name = Path(source.rstrip("/")).name or source
    if "@" in name and not Path(source).exists():
        name = name.split("@", 1)[0] or name
    return name.removeprefix("chargen-") or name


def model_sources(configured: str | None, project_dir: Path) -> dict[str, str]:
    """Short name -> what to load: ``CHARGEN_MODELS`` (comma-separated folders or repo ids) if set,
    else :data:`BUNDLED_MODELS` resolved against ``project_dir`` (never the working directory)."""
    if not configured or not configured.strip():
        return {name: str(project_dir / folder) for name, folder in BUNDLED_MODELS.items()}
    sources: dict[str, str] = {}
    for source in (part.strip() for part in configured.split(",")):
        if not source:
            continue
        name = short_name(source)
        if name in sources and sources[name] != source:
            name = source  # two models with the same last part: the full name tells them apart
        if name in BUNDLED_MODELS and source == BUNDLED_MODELS[name]:
            source = str(project_dir / source)
        sources.setdefault(name, source)
    return sources


def fallback_source(project_dir: Path) -> tuple[str, str]:
    """The bundled default model (short name, folder), found from any working directory."""
    name, folder = next(iter(BUNDLED_MODELS.items()))
    return name, str(project_dir / folder)


def parameter_count(model: CharRNN) -> int:
    """How many numbers the model holds (an n-gram model: its counts)."""
    if hasattr(model, "num_parameters"):
        return model.num_parameters()
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class ModelMenu:
    """The models a page offers: short names in order (the first is the default) and their aliases."""

    names: tuple[str, ...]
    aliases: dict[str, str]

    @classmethod
    def of(cls, offered: Sequence[OfferedModel]) -> ModelMenu:
        """The menu of ``offered``: each model by its short name, its source path or repo id as aliases."""
        aliases: dict[str, str] = {}
        for model in offered:
            if model.source:
                aliases[model.source] = model.name
                if BUNDLED_MODELS.get(model.name) and model.source.endswith(BUNDLED_MODELS[model.name]):
                    aliases[BUNDLED_MODELS[model.name]] = model.name
        return cls(tuple(model.name for model in offered), aliases)

    def resolve(self, name: Any) -> str:
        """The short name for ``name`` (blank = the default); never a path that is not on the menu."""
        if not self.names:
            raise ConfigError("no model is loaded")
        if _blank(name):
            return self.names[0]
        if isinstance(name, str):
            if name in self.names:
                return name
            if name in self.aliases:
                return self.aliases[name]
        raise ConfigError(f"model must be one of {', '.join(self.names)}, got {_shown(name)}")


def link_model_notice(name: str, default: str) -> str:
    """Why a link's model is not used: a session model is its own session's only; an unknown name is not offered."""
    from chargen.app.session.store import SESSION_PREFIX  # the Train tab's session models' names

    if name.startswith(SESSION_PREFIX):
        return i18n.text("notice.link_session", default=default)
    return i18n.text("notice.link_unknown", name=_shown(name), default=default)


def check_model_name(name: Any, model_names: Sequence[str] | ModelMenu) -> str:
    """One of the app's models by short name or alias (blank = the first); never a path typed by a visitor."""
    menu = model_names if isinstance(model_names, ModelMenu) else ModelMenu(tuple(model_names), {})
    return menu.resolve(name)


def parse_request(
    prompt: Any,
    temperature: Any,
    length: Any,
    top_k: Any = None,
    top_p: Any = None,
    seed: Any = None,
    model_name: Any = None,
    *,
    model_names: Sequence[str] | ModelMenu,
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
    "shakespeare-word": ["JULIET:\nO Romeo, "],  # one chip: the same prompts as the character model's would read twice
}
"""Prompts that suit the bundled models, keyed by the model's short name."""


def example_prompts(model_names: Sequence[str]) -> list[tuple[str, str]]:
    """``(prompt, model name)`` pairs for the page's example chips: prompts that suit the bundled
    models, a generic one for others."""
    return [(prompt, name) for name in model_names for prompt in EXAMPLE_PROMPTS.get(name, ["The "])]


EXAMPLE_CHIP_CHARS = 20
"""How much of an example prompt its chip shows (whitespace as markers) before it is cut short with an ellipsis."""


def example_chip_label(prompt: str, model_name: str) -> str:
    """What an example chip says: the start of its prompt (whitespace as markers) and the model it switches to,
    e.g. ``def·fibonacci(n): (python)``: a chip that changes the model says so."""
    shown = "".join(WHITESPACE_MARKERS.get(ch, ch) for ch in prompt)
    if len(shown) > EXAMPLE_CHIP_CHARS:
        shown = shown[: EXAMPLE_CHIP_CHARS - 1] + "\u2026"
    return f"{shown} ({model_name})"


def example_for_model(prompt: str, model_name: str, model_names: Sequence[str]) -> str | None:
    """The prompt to offer when a visitor picks ``model_name`` by hand: that model's first example when the
    prompt is still the page's default or another model's example (nothing of the visitor's is lost), else
    ``None`` (keep what they typed)."""
    examples = example_prompts(model_names)
    own = [example for example, name in examples if name == model_name]
    if not own or prompt in own:
        return None
    if prompt == APP_DEFAULT_PROMPT and model_name == model_names[0]:
        return None  # the default prompt suits the default model
    if prompt == APP_DEFAULT_PROMPT or prompt in {example for example, _ in examples}:
        return own[0]
    return None


def example_offers(model_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`example_for_model` as a table the page applies at once when a model is picked by hand: per model,
    the prompt it offers and the prompts that give way to it (the default and the other models' examples)."""
    candidates = [APP_DEFAULT_PROMPT, *(example for example, _ in example_prompts(model_names))]
    offers = {}
    for name in model_names:
        replaced = [prompt for prompt in dict.fromkeys(candidates) if example_for_model(prompt, name, model_names)]
        if replaced:
            offers[name] = {"offer": example_for_model(replaced[0], name, model_names), "replace": replaced}
    return offers


def prompt_notice_codes(prompt: str, comparison: Comparison) -> list[dict[str, Any]]:
    """What a visitor should know about how the prompt was read (dropped characters, an empty prompt), as
    catalogue keys with their values: ``{"code": "notice.dropped", "values": {...}}``."""
    codes: list[dict[str, Any]] = []
    dropped = comparison.dropped
    if dropped:
        shown = " ".join(_visible(ch) for ch in dropped[:20])
        if len(dropped) > 20:
            codes.append({"code": "notice.dropped_more", "values": {"shown": shown, "count": len(dropped) - 20}})
        else:
            codes.append({"code": "notice.dropped", "values": {"shown": shown}})
    if all(ch in dropped for ch in prompt):
        code = "notice.prompt_empty" if not prompt else "notice.prompt_unknown"
        codes.append({"code": code, "values": {"start": repr(comparison.prompt_used)}})
    return codes


def prompt_notices(prompt: str, comparison: Comparison) -> list[str]:
    """:func:`prompt_notice_codes` in words (English)."""
    return [i18n.text(notice["code"], **notice["values"]) for notice in prompt_notice_codes(prompt, comparison)]


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


# --- what the page shows about the texts -----------------------------------------------------------

WHITESPACE_NAMES = {" ": "lesson.spaces", "\n": "lesson.line_breaks", "\t": "lesson.tabs"}
"""How the loop line names whitespace (catalogue keys), which the texts show as markers (see ``chargen.app.page``)."""
WHITESPACE_MARKERS = {" ": "\u00b7", "\n": "\u21b5", "\t": "\u2192"}
"""The visible markers the page draws for whitespace (the copied or downloaded text has the real characters)."""


def _quoted(unit: str) -> str:
    """A loop's unit for a sentence: whitespace shown by its markers, cut short when long."""
    shown = "".join(WHITESPACE_MARKERS.get(ch, ch) for ch in unit)
    return f"\u201c{shown[:40]}\u2026\u201d" if len(shown) > 40 else f"\u201c{shown}\u201d"


def loop_code(text: str, loop: Loop | None) -> dict[str, Any] | None:
    """The loop line of the greedy ``text`` as a catalogue key and its values (positions counted from 1); a value
    that is words is ``{"code": key}``, a list of them is said joined by ``lesson.and``. None for no text."""
    if not text:
        return None
    what = {"code": "lesson.greedy_output"}
    if loop is None:
        return {"code": "lesson.loop_none", "values": {"what": what, "count": len(text)}}
    start = loop.start + 1
    kinds = set(loop.unit)
    if kinds <= set(WHITESPACE_NAMES):
        names = [{"code": WHITESPACE_NAMES[ch]} for ch in sorted(kinds, key=" \n\t".index)]
        return {
            "code": "lesson.loop_only",
            "values": {"what": what, "names": names, "start": start, "count": loop.length},
        }
    characters = {"code": "page.unit_character" if loop.period == 1 else "lesson.characters"}
    values = {"what": what, "unit": _quoted(loop.unit), "period": loop.period, "characters": characters}
    return {"code": "lesson.loop_repeats", "values": {**values, "start": start, "repeats": f"{loop.repeats:.1f}"}}


def said(code: dict[str, Any] | None) -> str:
    """A :func:`loop_code`-style code in English words ("" for None)."""
    if code is None:
        return ""

    def value(v: Any) -> str:
        if isinstance(v, list):
            return i18n.text("lesson.and").join(value(item) for item in v)
        return said(v) if isinstance(v, dict) else str(v)

    return i18n.text(code["code"], **{name: value(v) for name, v in code.get("values", {}).items()})


def loop_sentence(text: str, loop: Loop | None) -> str:
    """The loop line in words, positions counted from 1: ``greedy output is only spaces from
    character 2``; ``greedy output repeats "the " (4 characters) from character 141``."""
    return said(loop_code(text, loop))


def parting_index(greedy: str, sampled: str) -> int | None:
    """Where greedy and sampled part: the index of the first character where they differ (``None``
    when one is a prefix of the other)."""
    for i, (a, b) in enumerate(zip(greedy, sampled, strict=False)):
        if a != b:
            return i
    return None


def page_data(
    request: Request,
    comparison: Comparison,
    notices: Sequence[str] = (),
    stopped_at: int | None = None,
    notice_codes: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """What the page's script draws for one update of a generation: both texts, the probability
    of each sampled step (a character, or a word model's token), the characters each step wrote
    (word models; empty for character models), the seed, and when done the loop, the loop line and where the two
    texts part. ``settings`` are what makes these texts again (the page puts them in its link). The page says the
    loop line and the notices in its language from ``loop_code`` and ``notice_codes`` (catalogue keys and values);
    ``loop_line`` and ``notices`` are the same in English, for the API's clients."""
    greedy, sampled = comparison.greedy, comparison.sampled
    loop = comparison.loop if comparison.done else None
    parting = parting_index(greedy, sampled)
    loop_words = loop_code(greedy, loop) if comparison.done else None
    return {
        "greedy": greedy,
        "sampled": sampled,
        "probs": [round(p, 4) for p in comparison.sampled_probs],
        # A word model's steps write tokens: the characters of each, so the page plays both texts
        # back step by step in lockstep and shades a token's characters with its step's probability.
        "unit": "word" if comparison.greedy_steps or comparison.sampled_steps else "char",
        "greedy_steps": list(comparison.greedy_steps),
        "sampled_steps": list(comparison.sampled_steps),
        "seed": str(comparison.seed),
        "done": comparison.done,
        "stopped_at": stopped_at,
        "length": request.length,
        "loop": None if loop is None else {"start": loop.start, "period": loop.period, "length": loop.length},
        "loop_line": said(loop_words),
        "loop_code": loop_words,
        "parting": parting,
        "notices": list(notices),
        "notice_codes": list(notice_codes),
        "settings": {
            # Lone surrogates can't travel as JSON; no model knows them, so dropping them here changes nothing.
            "prompt": "".join(ch for ch in request.prompt if not "\ud800" <= ch <= "\udfff"),
            "temperature": request.temperature,
            "length": request.length,
            "top_k": request.top_k or 0,
            "top_p": request.top_p or 1.0,
            "seed": str(comparison.seed),
            "model": request.model_name,
        },
    }


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


# --- the distribution at any step ------------------------------------------------------------------


def check_position(position: Any, text: str) -> int:
    """Which step of ``text`` to show: -1 (the next character after it) or an index 0..len(text)."""
    allowed = f"-1 (the next character) or a whole number from 0 to {len(text)}"
    if _blank(position):
        return len(text)
    value = _whole(position, "position", allowed)
    if value == -1:
        return len(text)
    if not 0 <= value <= len(text):
        raise ConfigError(f"position must be {allowed}, got {_shown(position)}")
    return value


def check_text(text: Any, model: CharRNN) -> str:
    """Generated text to look inside: at most :data:`APP_MAX_LENGTH` characters the model knows."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ConfigError(f"text must be text, got {type(text).__name__}")
    if len(text) > APP_MAX_LENGTH:
        raise ConfigError(f"text is {len(text):,} characters long; the limit is {APP_MAX_LENGTH:,}")
    unknown = sorted(set(text) - set(model.vocab.chars))
    if unknown:
        shown = " ".join(_visible(ch) for ch in unknown[:10])
        raise ConfigError(f"text has characters the model does not know: {shown}")
    return text


@dataclass(frozen=True)
class WrittenSteps:
    """What each step of a word model's text wrote (:func:`check_steps`)."""

    pieces: tuple[str, ...]
    """The tokens in order; ``"".join(pieces)`` is the text."""
    open_end: bool = False
    """The text was cut at the length asked for, so its last step's token may go on beyond it."""


STEPS_ALLOWED = (
    "the characters each step wrote, whole numbers of at least 1 separated by commas (e.g. 3,1,4), "
    "the last followed by + when the text was cut inside that step's token"
)


def check_steps(steps: Any, text: str, model: CharRNN) -> WrittenSteps | None:
    """The tokens a word model wrote as ``text``, from the characters each step wrote (the page's
    ``greedy_steps`` / ``sampled_steps``, e.g. ``"3,1,4"`` or a list); ``None`` when blank (then
    ``text`` is read as the model tokenises it) and always for a character model, whose steps are
    its characters. A final ``+`` (``"3,1,4+"``) says the text was cut at the length asked for, so
    the last step's token may be longer than what was written.

    A generated text cannot be re-tokenised: the model may have written ``b``, ``ut`` where the
    text reads as ``but``. Each vocabulary token is a distinct string, so the pieces give the ids
    back. Every piece must be a token of the model's vocabulary, except that a cut last one may be
    the start of one.
    """
    if model.unit != "word" or _blank(steps):
        return None
    open_end = False
    if isinstance(steps, str):
        raw = steps.strip()
        open_end = raw.endswith("+")
        parts = [part for part in re.split(r"[\s,]+", raw.removesuffix("+").strip().strip("[]")) if part]
    elif isinstance(steps, (list, tuple)):
        parts = list(steps)
    else:
        raise ConfigError(f"steps must be {STEPS_ALLOWED}, got {_shown(steps)}")
    counts = [_whole(part, "steps", STEPS_ALLOWED) for part in parts]
    if any(count < 1 for count in counts):
        raise ConfigError(f"steps must be {STEPS_ALLOWED}, got {_shown(steps)}")
    if sum(counts) != len(text):
        raise ConfigError(f"steps must add up to the text's {len(text)} characters, got {sum(counts)}")
    pieces, start = [], 0
    for count in counts:
        pieces.append(text[start : start + count])
        start += count
    vocab = model.vocab
    for i, piece in enumerate(pieces):
        if piece in vocab or (open_end and i == len(pieces) - 1 and _continues(model, piece)):
            continue
        raise ConfigError(f"step {i + 1} wrote {_shown(piece)}, which is not a token of the model's vocabulary")
    return WrittenSteps(tuple(pieces), open_end)


def _continues(model: CharRNN, piece: str) -> bool:
    """Whether some longer token of the model's vocabulary starts with ``piece``."""
    return any(len(token) > len(piece) and token.startswith(piece) for token in model.vocab.tokens)


def step_pieces(model: CharRNN, text: str, written: WrittenSteps | None = None) -> list[str]:
    """What each step of ``text`` wrote: its characters (a character model), the pieces checked by
    :func:`check_steps`, or the tokens the model reads ``text`` as."""
    if model.unit != "word":
        return list(text)
    if written is not None:
        return list(written.pieces)
    tokens = model.vocab.tokens
    return [tokens[i] for i in model.vocab.encode(text)]


def step_distribution(
    model: CharRNN,
    prompt: str,
    text: str,
    position: int,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    written: WrittenSteps | None = None,
) -> dict[str, Any]:
    """The distribution the model offered at the step that wrote ``text[position]`` after ``prompt``
    (``position == len(text)``: the next step after the text), at ``temperature`` after top-k /
    top-p and at T = 1. A word model's step wrote the token holding that character: ``written``
    (:func:`check_steps`) says which tokens the text was written as; without it the text is read as
    the model tokenises it.

    The step is replayed the way generation ran it (the same engine, a batch of 2, one step per
    token), so ``p_at_T`` of the drawn token equals the probability the sampled text's shading
    shows for it. Rows are the whole vocabulary (characters, or a word model's tokens), likeliest
    first: ``[token, p_at_T, p_at_1, drawn]``. ``start`` is where the step's token begins in
    ``text``; ``cut`` says the text was cut inside it (its last step, ``written.open_end``, when a
    longer token starts with what was written): which token was drawn is then unknown, no row is
    marked and ``drawn`` is the part that was written.
    """
    import torch

    from chargen.inference import decoding
    from chargen.inference.engine import start_stepper
    from chargen.inference.generate import prepare_prompt

    vocab = model.vocab
    pieces = step_pieces(model, text, written)
    step, start = 0, 0
    while step < len(pieces) and start + len(pieces[step]) <= position:
        start += len(pieces[step])
        step += 1
    prepared = prepare_prompt(model, prompt)
    ids = vocab.encode("".join(pieces[:step])) if model.unit == "char" else _token_ids(model, pieces[:step])
    processors = decoding.build_processors(temperature, top_k, top_p)
    with torch.inference_mode():
        stepper = start_stepper(model, prepared.ids, 2)
        logits = stepper.logits
        for token_id in ids:
            logits = stepper.step(torch.tensor([token_id, token_id]))
        raw = logits[1:].float()  # (1, V)
        history = torch.tensor([prepared.ids + ids], dtype=torch.long)
        at_one = torch.softmax(raw, dim=-1)[0]
        if temperature == 0.0:
            at_t = torch.nn.functional.one_hot(raw[0].argmax(), raw.shape[-1]).float()
        else:
            at_t = torch.softmax(decoding.apply_processors(processors, history, raw), dim=-1)[0]
    drawn = pieces[step] if step < len(pieces) else None
    open_end = written is not None and written.open_end and step == len(pieces) - 1
    cut = drawn is not None and (drawn not in vocab or (open_end and _continues(model, drawn)))
    tokens = vocab.tokens
    p_t, p_one = at_t.tolist(), at_one.tolist()
    order = sorted(range(len(tokens)), key=lambda i: (-p_t[i], -p_one[i]))
    rows = [[tokens[i], p_t[i], p_one[i], not cut and tokens[i] == drawn] for i in order]
    return {
        "position": position if drawn is not None else -1,
        "step": step + 1,
        "start": start,
        "drawn": drawn,
        "cut": cut,
        "unit": model.unit,
        "temperature": temperature,
        "context": (prepared.text + text[:start])[-24:],
        "rows": rows,
    }


def _token_ids(model: CharRNN, pieces: Sequence[str]) -> list[int]:
    """The ids of a word model's written tokens; a cut last piece (not a token) spelled as the model reads it."""
    index = {token: i for i, token in enumerate(model.vocab.tokens)}
    ids: list[int] = []
    for piece in pieces:
        found = index.get(piece)
        ids.extend([found] if found is not None else model.vocab.encode(piece))
    return ids


def chart_rows(data: dict[str, Any], limit: int) -> dict[str, Any]:
    """``data`` of :func:`step_distribution` with only the ``limit`` likeliest rows and the drawn one:
    what the page's chart draws (a word model's vocabulary is thousands of rows)."""
    rows = data["rows"]
    kept = rows[:limit] + [row for row in rows[limit:] if row[3]]
    return {**data, "rows": kept}
