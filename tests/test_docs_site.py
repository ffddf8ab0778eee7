"""The documentation site renders its maths offline: KaTeX is vendored and loaded, and no
``\\(...\\)`` reaches a page outside the spans KaTeX renders."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCRIPTS = [
    "javascripts/katex/katex.min.js",
    "javascripts/katex/contrib/auto-render.min.js",
    "javascripts/katex-init.js",
]
STYLES = ["javascripts/katex/katex.min.css", "stylesheets/extra.css"]


def _config_list(name: str) -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    block = re.search(rf"^{name}:\n((?:  - .*\n)+)", text, re.M)
    assert block, f"mkdocs.yml has no {name} list"
    return [line.strip()[2:] for line in block.group(1).splitlines()]


def test_pages_have_no_rest_roles():
    # the docstrings are converted (docs/_griffe_rst_roles.py); the pages are Markdown
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        for role in (":math:`", ":func:`", ":class:`", ":mod:`", ":meth:`"):
            assert role not in text, (page.name, role)


def test_katex_is_vendored_with_its_licence_and_loaded():
    assert _config_list("extra_javascript") == SCRIPTS
    assert _config_list("extra_css") == STYLES
    for path in SCRIPTS + STYLES:
        assert (DOCS / path).stat().st_size > 0, path
    katex = DOCS / "javascripts" / "katex"
    assert "MIT License" in (katex / "LICENSE").read_text()
    # every font the stylesheet names is there (woff2 only: the vendoring script trims it)
    css = (katex / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert fonts and all((katex / font).is_file() for font in fonts)
    assert "arithmatex:\n      generic: true" in (ROOT / "mkdocs.yml").read_text()
    assert (
        '.querySelectorAll(".arithmatex")' in (DOCS / "javascripts" / "katex-init.js").read_text()
    )


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class _MathOutsideSpans(HTMLParser):
    """Text holding ``\\(`` or ``\\[`` outside an ``arithmatex`` element (and outside code)."""

    def __init__(self):
        super().__init__()
        self.open: list[tuple[str, bool]] = []
        self.stray: list[str] = []
        self.spans = 0

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID:
            classes = (dict(attrs).get("class") or "").split()
            self.open.append((tag, "arithmatex" in classes))

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if "\\(" not in data and "\\[" not in data:
            return
        if any(is_math for _, is_math in self.open):
            self.spans += 1
        elif not any(tag in ("code", "pre", "script", "style") for tag, _ in self.open):
            self.stray.append(data.strip()[:120])


@pytest.mark.slow  # builds the whole site, API reference included (~15 s)
def test_built_pages_load_katex_and_keep_maths_in_math_spans(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    spans = 0
    for page in sorted(tmp_path.rglob("*.html")):
        html = page.read_text()
        if page.name == "404.html":
            continue
        for script in SCRIPTS:
            assert f"{script.rsplit('/', 1)[-1]}" in html, (page, script)
        # no reST left over: a role, or a literal in a Returns line numpydoc took for a type
        assert ":math:`" not in html and ":func:`" not in html, page
        assert "<code>``" not in html, page
        parser = _MathOutsideSpans()
        parser.feed(html)
        assert not parser.stray, (page.relative_to(tmp_path), parser.stray[:3])
        spans += parser.spans
    # the learning API page alone showed 169 raw \(...\) before KaTeX was loaded
    assert spans > 169
    for path in SCRIPTS + STYLES:
        assert (tmp_path / path).is_file()
