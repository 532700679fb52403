"""The README and the reference in docs/: every relative link leads to a file that exists, and every
``#anchor`` to a heading of that file, as GitHub (and the Hub) name headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
# [text](target) or ![alt](target "title"); the text may run over lines, so only its end is matched.
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks (a fenced block's lines become empty)."""
    lines, fence = [], None
    for line in text.split("\n"):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence[0] * len(fence)):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def heading_slug(heading: str) -> str:
    """The anchor GitHub gives a heading's text (github-slugger): the rendered text in lower case, every
    character that is not a letter, digit, underscore, hyphen or space dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image in a heading: its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        slug = heading_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """The link targets of a Markdown file that point inside the repository (no scheme, not in code)."""
    prose = INLINE_CODE.sub("", "\n".join(prose_lines(path.read_text(encoding="utf-8"))))
    targets = INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)
    return [t for t in targets if t and not SCHEME.match(t)]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of ``path`` that leads nowhere, with the reason: a missing file, a path
    outside the repository, or an anchor that no heading of the target file has."""
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
        if not resolved.is_relative_to(root.resolve()):
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(root.resolve())}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    docs = {p.resolve() for p in PAGES[1:]}
    assert docs, "docs/ holds no pages"
    assert sorted(str(p.relative_to(ROOT)) for p in docs - linked) == []


# Headings and the anchors GitHub gives them (github-slugger's rules: punctuation dropped, letters of any
# script, digits, underscores and hyphens kept, each space one hyphen, so two spaces make two).
GITHUB_ANCHORS = [
    ("Bundled models", "bundled-models"),
    ("Many GPUs (torchrun)", "many-gpus-torchrun"),
    ("Free path (ZeroGPU), step by step", "free-path-zerogpu-step-by-step"),
    ("/train and the Train tab's other endpoints", "train-and-the-train-tabs-other-endpoints"),
    ("`chargen-models.txt`", "chargen-modelstxt"),
    ("What is tested, and what is checked by reading only", "what-is-tested-and-what-is-checked-by-reading-only"),
    ("snake_case and  two spaces", "snake_case-and--two-spaces"),
    ("Caf\u00e9 r\u00e9sum\u00e9", "caf\u00e9-r\u00e9sum\u00e9"),
]


@pytest.mark.parametrize(("heading", "anchor"), GITHUB_ANCHORS)
def test_heading_anchors_are_githubs(heading: str, anchor: str) -> None:
    assert heading_slug(heading) == anchor


def test_broken_links_are_found_and_code_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Set up\n\n## Set up\n", encoding="utf-8")
    (tmp_path / "docs" / "app.jpg").write_bytes(b"\xff\xd8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Top\n\n"
        "[ok](docs/guide.md) [ok anchor](docs/guide.md#set-up) [repeated heading](docs/guide.md#set-up-1)\n"
        "![a picture whose alt text\nruns over two lines](docs/app.jpg) [here](#top) [web](https://example.com/x)\n"
        '[titled](docs/guide.md "the guide") `[in code](docs/none.md)`\n\n'
        "```markdown\n[in a fence](docs/fenced.md)\n```\n\n"
        "[missing](docs/missing.md) [bad anchor](docs/guide.md#install) [up](../elsewhere.md)\n"
        "[not a page](docs/app.jpg#top) [self](#nowhere)\n\n"
        "[ref]: docs/gone.md\n",
        encoding="utf-8",
    )
    assert broken_links(readme, root=tmp_path) == [
        "docs/missing.md: no such file",
        "docs/guide.md#install: no heading #install in docs/guide.md",
        "../elsewhere.md: outside the repository",
        "docs/app.jpg#top: no heading #top in docs/app.jpg",
        "#nowhere: no heading #nowhere in README.md",
        "docs/gone.md: no such file",
    ]


def test_the_layout_page_lists_every_module_and_static_file_and_nothing_else() -> None:
    """docs/layout.md names each file of the package once, so the tree it shows is the tree there is."""
    listed = set(
        re.findall(r"^\| `(chargen/[^`]+)` \|", (ROOT / "docs" / "layout.md").read_text(encoding="utf-8"), re.M)
    )
    package = ROOT / "chargen"
    present = {
        path.relative_to(ROOT).as_posix()
        for path in package.rglob("*")
        if path.is_file() and path.suffix in {".py", ".js", ".css", ".html", ".md"} and "__pycache__" not in path.parts
    }
    assert listed == present, {"not listed": sorted(present - listed), "listed but absent": sorted(listed - present)}
