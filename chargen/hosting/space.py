"""Which models the app serves, on a Hugging Face Space or anywhere: the models file, ``CHARGEN_MODELS``, the default.

A Space written by ``python -m chargen deploy`` holds :data:`MODELS_FILE`
(``chargen-models.txt``) beside ``app.py``: one model per line (a Hub repo id pinned to a commit,
``owner/chargen-shakespeare@<sha>``, or a local folder), ``#`` starts a comment, the first is the
default. :func:`configured_models` decides what the app loads, first match wins:

1. ``chargen-models.txt`` beside ``app.py``, when it names at least one model;
2. the ``CHARGEN_MODELS`` environment variable (a Space "variable"), comma-separated;
3. the bundled default.

The file wins because it is what ``deploy`` pinned to the commits it just pushed; a
``CHARGEN_MODELS`` left in a Space's settings from an older setup must not silently override it.
Delete or edit the file in the Space to choose models another way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from chargen.errors import ConfigError
from chargen.hub import MODELS_ENV, parse_models_env

MODELS_FILE = "chargen-models.txt"
"""The file beside ``app.py`` that names the models a deployed Space serves; wins over ``CHARGEN_MODELS``."""


def read_models_file(path: str | Path) -> list[str]:
    """The model names in a models file: one per line, blank lines and ``#`` comments skipped, duplicates dropped.

    Raises :class:`~chargen.errors.ConfigError` naming the file when it cannot be read as UTF-8 text.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the models file ({exc})") from None
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return parse_models_env(",".join(lines), default=None)


def configured_models(app_dir: str | Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The models the app is configured to load: :data:`MODELS_FILE` in ``app_dir``, else ``CHARGEN_MODELS``.

    Args:
        app_dir: the folder holding ``app.py`` (where ``deploy`` writes the models file).
        environ: where to read ``CHARGEN_MODELS``; ``os.environ`` when None.

    Returns:
        A ``CHARGEN_MODELS``-style comma-separated string (the first name is the default), or None
        when neither names any model: the app then offers its bundled models.

    Example:
        >>> configured_models("/nonexistent", environ={"CHARGEN_MODELS": "user/repo"})
        'user/repo'
    """
    environ = os.environ if environ is None else environ
    models_file = Path(app_dir) / MODELS_FILE
    if models_file.is_file():
        names = read_models_file(models_file)
        if names:
            return ",".join(names)
    return ",".join(parse_models_env(environ.get(MODELS_ENV), default=None)) or None
