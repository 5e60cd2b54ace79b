"""Griffe extension for the API pages: the package's docstrings use a little reStructuredText
(Sphinx roles, simple tables, ``::`` before code); turn those into Markdown before rendering.

- ``:class:`~a.b.C``` (and func, meth, mod, data, attr, exc, obj) -> ``C`` in code (``a.b.C``
  without the tilde);
- simple tables (``=====  =====`` borders) -> Markdown tables;
- a paragraph ending in ``::`` -> ``:`` (the indented block after it is a code block already).
"""

from __future__ import annotations

import re

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
_BORDER = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def _role(m: re.Match) -> str:
    target = m.group(2)
    return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"


def _spans(border: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", border)]


def _cells(line: str, spans) -> list[str]:
    out = []
    for k, (start, _end) in enumerate(spans):
        stop = spans[k + 1][0] if k + 1 < len(spans) else None
        out.append(line[start:stop].strip() if stop is not None else line[start:].strip())
    return out


def _table(lines: list[str]) -> list[str]:
    """A Markdown table from the lines of one simple table, borders included."""
    spans = _spans(lines[0])
    borders = [i for i, line in enumerate(lines) if _BORDER.match(line)]
    header_end = borders[1] if len(borders) >= 3 else None
    rows, header = [], None
    for i, line in enumerate(lines):
        if i in borders or not line.strip():
            continue
        cells = _cells(line, spans)
        if header_end is not None and i < header_end:
            header = cells if header is None else [f"{a} {b}".strip() for a, b in zip(header, cells)]
        elif rows and not cells[0]:  # a continuation line
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    if header is None:
        header, rows = rows[0], rows[1:]
    esc = lambda cells: "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"  # noqa: E731
    return ["", esc(header), "|" + "---|" * len(header), *map(esc, rows), ""]


def markdown(text: str) -> str:
    text = _ROLE.sub(_role, text)
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if _BORDER.match(lines[i]):
            j, borders = i, 0
            block = []
            while j < len(lines) and lines[j].strip():
                block.append(lines[j])
                borders += bool(_BORDER.match(lines[j]))
                j += 1
            if borders >= 2:
                out += _table(block)
                i = j
                continue
        out.append(re.sub(r"(\S)::\s*$", r"\1:", lines[i]))
        i += 1
    return "\n".join(out)


class RstToMarkdown(Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
