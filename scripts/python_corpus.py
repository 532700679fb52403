"""Build the Python-source corpus for the second bundled model from this interpreter's standard library.

Usage: python scripts/python_corpus.py OUT.txt [--max-chars 6000000]
Takes the ASCII-only modules of at least 2,000 characters (top level and one package level down,
tests, idlelib and lib2to3 left out), each headed by a ``# file:`` line, in sorted order.
"""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path


def build(max_chars: int) -> str:
    """The corpus text: stdlib modules in a stable order until ``max_chars`` is passed."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py")) + sorted(root.glob("*/*.py"))
    skip = ("test", "idlelib", "lib2to3", "site-packages")
    parts, total = [], 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(skip) for part in rel.split("/")):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.isascii() or len(text) < 2000:
            continue
        parts.append(f"# file: {rel}\n{text}\n")
        total += len(text)
        if total > max_chars:
            break
    return "".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--max-chars", type=int, default=6_000_000)
    args = parser.parse_args()
    text = build(args.max_chars)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"{args.out}: {len(text):,} characters, {len(set(text))} distinct")
