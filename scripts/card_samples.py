"""Print the greedy-vs-sampled section of a model card, so the card's samples can be regenerated.

Usage: python scripts/card_samples.py CHECKPOINT PROMPT [--length 300] [--seed 1234]
"""

from __future__ import annotations

import argparse

import chargen


def unescape(text: str) -> str:
    """Turn the backslash escapes typed on a command line (``\\n``, ``\\t``) into characters; others stay as typed.

    ``text.encode().decode("unicode_escape")`` would read the UTF-8 bytes of a non-ASCII character
    as Latin-1 (``é`` became ``Ã©``); escaping those characters first keeps them.
    """
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def main() -> None:
    """Write markdown: one greedy continuation and a sample at each of T = 0.5, 0.8 and 1.0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("prompt")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    prompt = unescape(args.prompt)
    model = chargen.load_model(args.checkpoint)
    print(f"Prompt `{args.prompt}`, {args.length} characters, seed {args.seed}, made with")
    print(f"`python scripts/card_samples.py {args.checkpoint} '{args.prompt}' --seed {args.seed}`.\n")
    for index, temperature in enumerate((0.5, 0.8, 1.0)):
        result = chargen.compare(model, prompt, args.length, temperature=temperature, seed=args.seed)
        if index == 0:
            loop = result.loop.describe() if result.loop else "no repeating loop within these characters"
            print(f"**Greedy** (argmax; the same at every temperature: {loop}):\n")
            print("```text\n" + prompt + result.greedy + "\n```\n")
        print(f"**Sampled, T = {temperature}**:\n")
        print("```text\n" + prompt + result.sampled + "\n```\n")


if __name__ == "__main__":
    main()
