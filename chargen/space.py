"""Which models the app serves, on a Hugging Face Space or anywhere: the models file, ``CHARGEN_MODELS``, the default.

A Space written by ``python -m chargen deploy`` holds :data:`MODELS_FILE`
(``chargen-models.txt``) beside ``app.py``: one model per line (a Hub repo id pinned to a commit,
``owner/chargen-shakespeare@<sha>``, or a local folder), ``#`` starts a comment, the first is the
default. :func:`model_names` decides what the app loads, first match wins:

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


def model_names(app_dir: str | Path, default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The models the app should load: :data:`MODELS_FILE` in ``app_dir`` > ``CHARGEN_MODELS`` > ``default``.

    Args:
        app_dir: the folder holding ``app.py`` (where ``deploy`` writes the models file).
        default: comma-separated names used when neither the file nor the variable names any.
        environ: where to read ``CHARGEN_MODELS``; ``os.environ`` when None.

    Returns:
        The names in order, the first being the default model.

    Example:
        >>> model_names("/nonexistent", "checkpoints/shakespeare", environ={})
        ['checkpoints/shakespeare']
    """
    environ = os.environ if environ is None else environ
    models_file = Path(app_dir) / MODELS_FILE
    if models_file.is_file():
        names = read_models_file(models_file)
        if names:
            return names
    from_env = parse_models_env(environ.get(MODELS_ENV), default=None)
    return from_env or parse_models_env(default)
