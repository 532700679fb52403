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
