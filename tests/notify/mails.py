"""Reading notices as a mail client would: the standard library's ``email`` parser, the text
and HTML parts, and each part's outline (its section headings and buttons, in order)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# An ambiguous zone abbreviation where an offset belongs (issue 15 item 3).
ABBREVIATION = re.compile(r"\b(CST|IST|EST|PST|CET|BST)\b")


def parts(mail) -> tuple[str, str]:
    """The text and HTML parts of a received ``EmailMessage``, LF line endings."""
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(("html",)).get_content().replace("\r\n", "\n")
    return text, html


class _Outline(HTMLParser):
    """Section headings (h2) and buttons (a link in a table cell with a ``bgcolor``, inside a
    ``role="presentation"`` table: the "bulletproof" button), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []
        self.buttons: list[dict] = []
        self._tables: list[bool] = []
        self._cells: list[dict] = []
        self._capture: list[str] | None = None
        self._kind = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._tables.append(attrs.get("role") == "presentation")
        elif tag == "td":
            self._cells.append(attrs)
        elif tag == "h2":
            self._capture, self._kind = [], "section"
        elif tag == "a" and self._cells and self._tables and self._tables[-1]:
            cell = self._cells[-1]
            if cell.get("bgcolor"):
                self._capture, self._kind = [], "button"
                self.buttons.append({"href": attrs.get("href"), "style": attrs.get("style", "")})
                self.buttons[-1]["cell"] = cell

    def handle_endtag(self, tag):
        if tag == "table" and self._tables:
            self._tables.pop()
        elif tag == "td" and self._cells:
            self._cells.pop()
        elif tag in ("h2", "a") and self._capture is not None:
            label = " ".join("".join(self._capture).split())
            self.items.append(label if self._kind == "section" else f"button: {label}")
            if self._kind == "button":
                self.buttons[-1]["label"] = label
            self._capture = None

    def handle_data(self, data):
        if self._capture is not None:
            self._capture.append(data)


def html_outline(html: str) -> list[str]:
    """["What changes", "When", …, "button: Acknowledge", "Details"] of an HTML part."""
    parser = _Outline()
    parser.feed(html)
    return parser.items


def html_buttons(html: str) -> list[dict]:
    """Each button's href, its link's style and its cell's attributes."""
    parser = _Outline()
    parser.feed(html)
    return parser.buttons


BUTTON_LINES = re.compile(r"^(Acknowledge|Chase them from the desk)\b[^:]*: \[\d+\]$")


def text_outline(text: str) -> list[str]:
    """The text part's headings (a line underlined with dashes) and its button lines."""
    lines = text.split("\n")
    items = []
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line and lines[i + 1] == "-" * len(line):
            items.append(line)
        elif BUTTON_LINES.match(line):
            items.append(f"button: {line.split(':')[0].split(' (')[0]}")
    return items


def link_notes(text: str) -> dict[int, str]:
    """The text part's numbered links: {1: "https://…", …}."""
    return {int(n): url for n, url in re.findall(r"^\[(\d+)\] (\S+)$", text, re.M)}


def linked(text: str, label: str) -> str:
    """The URL a text line "label…: [n]" points to."""
    match = re.search(rf"^{re.escape(label)}[^\n]*?\[(\d+)\]$", text, re.M)
    assert match, f"no line {label!r} with a link"
    return link_notes(text)[int(match.group(1))]
