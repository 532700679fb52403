"""Exceptions that chargen raises for bad input, each carrying a message meant for a person."""


class ChargenError(Exception):
    """Base class: the CLI prints these as one line on stderr, never as a traceback."""


class UnknownCharactersError(ChargenError, ValueError):
    """A text holds characters that the vocabulary does not know."""

    def __init__(self, unknown: list[str]):
        self.unknown = unknown
        shown = ", ".join(repr(ch) for ch in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        super().__init__(f"text has {len(unknown)} character(s) not in the vocabulary: {shown}{more}")


class CorpusError(ChargenError, ValueError):
    """A training or evaluation text is missing, unreadable, not UTF-8 or too short."""


class CheckpointError(ChargenError, ValueError):
    """A checkpoint folder or file is missing, corrupted or not a chargen model."""


class ConfigError(ChargenError, ValueError):
    """A hyperparameter or option is outside what is allowed."""
