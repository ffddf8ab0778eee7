"""Vendor KaTeX into docs/javascripts/katex (run once per KaTeX upgrade; the result is committed).

The documentation site renders its maths (``pymdownx.arithmatex``'s ``\\(...\\)`` spans)
with KaTeX, shipped with the site so that it builds and reads offline. This script
copies what the site loads from KaTeX's npm package: ``katex.min.js``,
``katex.min.css`` (its ``@font-face`` rules trimmed to the WOFF2 fonts, which every
browser the site supports reads), ``contrib/auto-render.min.js``, the WOFF2 fonts and
KaTeX's MIT licence.

Usage: ``python docs/_vendor_katex.py [VERSION]`` (needs ``npm``; default below).
"""

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.19.1"
TARGET = Path(__file__).resolve().parent / "javascripts" / "katex"


def trim_fonts(css: str) -> str:
    """Keep only the ``url(...woff2) format("woff2")`` source of every ``@font-face``."""
    return re.sub(r',url\(fonts/[^)]+\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)', "", css)


def main(version: str = VERSION) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["npm", "pack", f"katex@{version}"], cwd=scratch, check=True)
        with tarfile.open(Path(scratch) / f"katex-{version}.tgz") as archive:
            archive.extractall(scratch, filter="data")
        package = Path(scratch) / "package"
        if TARGET.exists():
            shutil.rmtree(TARGET)
        (TARGET / "contrib").mkdir(parents=True)
        (TARGET / "fonts").mkdir()
        shutil.copy(package / "dist" / "katex.min.js", TARGET)
        css = (package / "dist" / "katex.min.css").read_text()
        (TARGET / "katex.min.css").write_text(trim_fonts(css))
        shutil.copy(package / "dist" / "contrib" / "auto-render.min.js", TARGET / "contrib")
        for font in (package / "dist" / "fonts").glob("*.woff2"):
            shutil.copy(font, TARGET / "fonts")
        shutil.copy(package / "LICENSE", TARGET / "LICENSE")
        (TARGET / "VERSION").write_text(version + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
