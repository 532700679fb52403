"""The page's script and styles: files gradio serves, linked from a small head, not text in /config."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from chargen.app import i18n, page


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


def test_config_links_the_script_and_styles_which_answer_with_the_files_bytes(url: str) -> None:
    status, body = fetch(url + "config")
    config = json.loads(body)
    script = page.SCRIPT_PATH.read_text(encoding="utf-8")
    assert "function stepsOf(d)" in script and "function stepsOf(d)" not in body.decode()
    assert "#chart-bars" not in body.decode()  # the styles are not in /config either
    assert not config.get("css") and not config.get("js")
    links = re.findall(r'(?:src|href)="([^"]+)"', config["head"])
    assert len(links) == 3 and len(config["head"]) < 2_000
    served = {}
    for link in links:
        assert link.startswith("gradio_api/file=") and re.search(r"\?v=[0-9a-f]{12}$", link), link
        status, data = fetch(url + link)
        assert status == 200
        served[Path(link.split("?")[0].split("/")[-1]).name] = data
    assert served == {
        "i18n.js": page.I18N_SCRIPT_PATH.read_bytes(),
        "chargen.js": page.SCRIPT_PATH.read_bytes(),
        "chargen.css": page.STYLE_PATH.read_bytes(),
    }
    scripts = [link.split("?")[0].rsplit("/", 1)[-1] for link in links if ".js?" in link]
    assert scripts == ["i18n.js", "chargen.js"]  # gradio runs head scripts in order: the language's first
    # The settings the script takes from the server are in the head, as JSON.
    settings = re.search(r"window\.chargenConfig = (\{.*?\});", config["head"])
    assert settings is not None and json.loads(settings.group(1)) == page.page_config()
    # The catalogues are static files too (by hashed URL), not words in /config.
    assert i18n.catalogue("mr")["page.title"] not in json.dumps(config, ensure_ascii=False)
    for language, link in page.page_config()["i18n"]["catalogues"].items():
        status, data = fetch(url + link)
        assert status == 200 and json.loads(data) == json.loads(i18n.catalogue_path(language).read_bytes())


def test_other_package_files_are_not_served(url: str) -> None:
    """Only the linked files are static: the rest of the package (its source) is refused."""
    for path in (page.BOOT_PATH, page.STATIC_DIR / "lesson.html", Path(page.__file__)):
        try:
            status, _ = fetch(url + "gradio_api/file=" + path.as_posix())
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 403, path


def test_a_changed_file_gets_a_new_url(tmp_path: Path) -> None:
    path = tmp_path / "chargen.js"
    path.write_text("window.a = 1;\n", encoding="utf-8")
    first = page.static_url(path)
    assert page.static_url(path) == first
    path.write_text("window.a = 2;\n", encoding="utf-8")
    assert page.static_url(path) != first and first.split("?")[0] == page.static_url(path).split("?")[0]


def test_the_settings_cannot_end_the_inline_script(monkeypatch) -> None:
    monkeypatch.setattr(page, "WHITESPACE_MARKERS", {" ": "</script><script>alert(1)</script>"})
    head = page.head_html()
    inline = head[: head.index("</script>")]
    assert "alert(1)" in inline and "<script>alert" not in inline
    settings = re.search(r"window\.chargenConfig = (\{.*?\});", inline)
    assert json.loads(settings.group(1))["markers"] == {" ": "</script><script>alert(1)</script>"}


def test_the_html_fragments_hold_the_elements_the_script_fills() -> None:
    for element_id in ("greedy", "sampled", "loop_line", "seed_line", "stepper", "next_char", "play_rest", "parting"):
        assert f'id="{element_id}"' in page.LESSON_HTML
    for element_id in ("chart-caption", "chart-bars", "chart-drawn"):
        assert f'id="{element_id}"' in page.CHART_HTML
