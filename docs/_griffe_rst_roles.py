"""A Griffe extension for the API reference: the docstrings' reST markup as Markdown.

The docstrings are numpydoc, written for Sphinx as well as for ``help()``: they
cross-reference with roles (``:func:`~numpyro_ebm.learning.fit```) and write maths
with ``:math:`...``` and ``.. math::`` blocks. mkdocstrings renders docstrings as
Markdown, where those would show as literal text. This extension (loaded by
``mkdocs.yml``) rewrites them before rendering: a cross-reference becomes a code
span with the name as Sphinx would show it (the last component after ``~``), and
the maths becomes ``$...$`` and ``$$...$$`` for ``pymdownx.arithmatex``.
:func:`convert` is the whole transformation; ``tests/test_docs_api_markup.py``
checks it on every docstring of the package.
"""

from __future__ import annotations

import re
import textwrap

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`(~?)([^`]+)`")
_MATH = re.compile(r":math:`([^`]*)`")
_MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)\n", re.MULTILINE)


def _reference(match: re.Match) -> str:
    short, target = match.groups()
    if "<" in target and target.endswith(">"):  # :func:`title <target>`
        return f"`{target.split('<', 1)[0].strip()}`"
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _math_blocks(text: str) -> str:
    """``.. math::`` and its indented body as a ``$$`` block at the directive's indent."""
    out = []
    position = 0
    for match in _MATH_BLOCK.finditer(text):
        if match.start() < position:
            continue
        out.append(text[position : match.start()])
        indent = match.group("indent")
        following = []  # the directive's indented body (and the blank lines in it)
        for line in text[match.end() :].split("\n"):
            deeper = line.startswith(indent) and len(line) - len(line.lstrip()) > len(indent)
            if line.strip() and not deeper:
                break
            following.append(line)
        consumed = len("\n".join(following))
        inline = match.group("inline")
        body = ([indent + "    " + inline] if inline.strip() else []) + following
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        maths = textwrap.dedent("\n".join(body))
        out.append(f"{indent}$$\n{textwrap.indent(maths, indent)}\n{indent}$$\n\n")
        position = match.end() + consumed
        if text[position : position + 1] == "\n":
            position += 1
    out.append(text[position:])
    return "".join(out)


def convert(text: str) -> str:
    """A numpydoc docstring's reST roles and maths as the Markdown mkdocstrings renders."""
    text = _math_blocks(text)
    text = _MATH.sub(lambda m: f"${m.group(1).strip()}$", text)
    return _ROLE.sub(_reference, text)


try:
    import griffe
except ImportError:  # the test of convert() runs without the docs extra
    pass
else:

    class ReSTRoles(griffe.Extension):
        """Rewrite every docstring with :func:`convert` once the package is loaded."""

        def on_object(self, *, obj, **kwargs) -> None:
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value)
