"""The page's words in each language: one catalogue per language, a JSON file a translator edits.

``static/i18n/<language>.json`` maps a key (``"generate.button"``; the part before the first dot says
where on the page the words appear) to the words, with ``{name}`` where a value goes. The server builds
the page and every message in English from ``en.json`` (:func:`text`): ``/generate``'s outputs and
its errors stay English for the clients that read them. The page's script fetches the chosen
language's catalogue as a static file (not in every visitor's ``/config``) and shows the page in it,
matching the English words, or their pattern, back to their key.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CATALOGUE_DIR = Path(__file__).resolve().parent / "static" / "i18n"
"""One ``<language>.json`` per language in :data:`LANGUAGES`."""
LANGUAGES = {"en": "English", "mr": "मराठी"}
"""The page's languages (code -> the language's own name, as the switch shows it); the first is the default."""
DEFAULT_LANGUAGE = "en"
"""The language the server renders, and the page's when the browser asks for none of :data:`LANGUAGES`."""


def catalogue_path(language: str) -> Path:
    """The catalogue file of ``language`` (one of :data:`LANGUAGES`)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for language {language!r}; the page has {sorted(LANGUAGES)}")
    return CATALOGUE_DIR / f"{language}.json"


@functools.cache
def catalogue(language: str = DEFAULT_LANGUAGE) -> Mapping[str, str]:
    """``language``'s catalogue: key -> words (read once)."""
    with catalogue_path(language).open(encoding="utf-8") as file:
        return json.load(file)


def placeholders(words: str) -> set[str]:
    """The ``{name}`` placeholders in a catalogue entry."""
    return {name for _, name, _, _ in string.Formatter().parse(words) if name}


def text(key: str, /, **values: Any) -> str:
    """The English words of ``key`` with its ``{name}`` placeholders filled from ``values``.

    Raises KeyError for a key missing from the catalogue or a placeholder without a value.
    """
    return catalogue(DEFAULT_LANGUAGE)[key].format_map(values)


NUMBERS = frozenset({"low", "high", "count", "rank", "seconds", "minutes"})
"""Placeholders that always hold a number: they match only a number, so "{low} to {high}" never reads gradio's
"Click to Upload" (the page's script, ``static/i18n.js``, has the same list)."""
NUMBER = r"([-+]?\d[\d.,]*)"


@functools.cache
def _templates(language: str) -> tuple[tuple[str, re.Pattern[str], tuple[str, ...], int, int], ...]:
    """``language``'s entries with placeholders as patterns (``{name}`` -> a capture): (key, pattern, names,
    fixed characters, fixed characters before the first placeholder)."""
    found = []
    for key, words in catalogue(language).items():
        parts = re.split(r"\{(\w+)\}", " ".join(words.replace("**", "").split()))
        if len(parts) == 1:
            continue
        pattern = "".join(
            (NUMBER if part in NUMBERS else r"([\s\S]+?)") if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )
        fixed = sum(len(part) for part in parts[::2])
        found.append((key, re.compile(f"^{pattern}$"), tuple(parts[1::2]), fixed, len(parts[0])))
    return tuple(found)


@functools.cache
def _exact(language: str) -> Mapping[str, str]:
    """``language``'s entries without placeholders: words -> the first key with them."""
    found: dict[str, str] = {}
    for key, words in catalogue(language).items():
        if not placeholders(words):
            found.setdefault(" ".join(words.replace("**", "").split()), key)
    return found


def _best(words: str, language: str, depth: int) -> tuple[str, dict[str, str], int] | None:
    if words in _exact(language):
        return _exact(language)[words], {}, len(words)
    best, best_order = None, (-1, -1)
    for key, pattern, names, fixed, start in _templates(language):
        found = pattern.match(words)
        if not found:
            continue
        score = fixed
        for value in found.groups():
            for part in value.split("; ") if depth < 2 else []:
                own = _best(part.strip(), language, depth + 1)
                score += own[2] if own else 0
        if (score, start) > best_order:
            best, best_order = (key, dict(zip(names, found.groups(), strict=True)), score), (score, start)
    return best


def match(words: str, language: str = DEFAULT_LANGUAGE) -> tuple[str, dict[str, str]] | None:
    """The key whose entry in ``language`` reads ``words`` (whitespace runs as one space, ``**`` dropped), with the
    values its placeholders took; None when no entry does. Where several match, the one that accounts for the most
    of the words as catalogue words (its own, and its values' as entries themselves) wins, then the one with the
    longer fixed start. The page's script (``static/i18n.js``) matches the English it shows the same way."""
    found = _best(" ".join(words.replace("**", "").split()), language, 0)
    return None if found is None else (found[0], found[1])
