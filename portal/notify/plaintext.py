"""The text part of a notice: Markdown turned into clean plain text, links as numbered notes.

Mail clients that show the text part (and people who prefer it) should read a notice without
Markdown markup (``**``, ``[…](…)``, backticks) and without URLs breaking sentences: each link
keeps its words and gets a number, ``words [2]``, and the URLs are listed at the end of the
message as ``[2] https://…`` (``Links.listing``). Only http(s) and mailto links are listed, as
the HTML part's sanitiser keeps only those (``portal.templating.render_markdown``); raw HTML
in the Markdown stays literal text, as it is escaped in the HTML part.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
LINK_SCHEMES = ("http://", "https://", "mailto:")


class Links:
    """The links of one text part, numbered in order of first appearance."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def ref(self, url: str) -> str:
        """``[n]`` for ``url`` (the same number for the same URL)."""
        if url not in self.urls:
            self.urls.append(url)
        return f"[{self.urls.index(url) + 1}]"

    def listing(self) -> str:
        """``[1] url`` lines, one per link; "" when there are none."""
        return "\n".join(f"[{n}] {url}" for n, url in enumerate(self.urls, start=1))


def markdown_text(source: str | None, links: Links) -> str:
    """``source`` (CommonMark with tables) as plain text: paragraphs separated by blank lines,
    lists as ``- item`` / ``1. item``, quotes as ``> ``, code indented by four spaces,
    table rows as ``a | b``; emphasis and code markers dropped; links as ``words [n]``."""
    tree = SyntaxTreeNode(_markdown.parse(source or ""))
    return "\n".join(_blocks(tree.children, links)).strip("\n")


def _blocks(nodes, links: Links, tight: bool = False) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        block = _block(node, links)
        if not block:
            continue
        if lines and not tight:
            lines.append("")
        lines.extend(block)
    return lines


def _block(node, links: Links) -> list[str]:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return _inline_lines(node, links)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, links)
    if kind == "blockquote":
        return [f"> {line}".rstrip() for line in _blocks(node.children, links)]
    if kind in ("fence", "code_block"):
        return [f"    {line}".rstrip() for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["----"]
    if kind == "table":
        rows = []
        for section in node.children:
            for row in section.children:
                rows.append(
                    " | ".join(" ".join(_inline_lines(cell, links)) for cell in row.children)
                )
        return rows
    return _blocks(node.children, links)


def _list(node, links: Links) -> list[str]:
    lines: list[str] = []
    number = int(node.attrs.get("start", 1) or 1)
    tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    for item in node.children:
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        number += 1
        body = _blocks(item.children, links, tight=tight) or [""]
        if lines and not tight:
            lines.append("")
        lines.append(marker + body[0])
        lines.extend((" " * len(marker) + line) if line else "" for line in body[1:])
    return lines


def _inline_lines(node, links: Links) -> list[str]:
    parts: list[str] = []
    for child in node.children:
        if child.type == "inline":
            _inline(child.children, links, parts)
    return "".join(parts).split("\n")


def _inline(nodes, links: Links, out: list[str]) -> None:
    for node in nodes:
        kind = node.type
        if kind in ("text", "code_inline"):
            out.append(node.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link":
            _inline(node.children, links, out)
            href = str(node.attrs.get("href", ""))
            if href.lower().startswith(LINK_SCHEMES):
                out.append(f" {links.ref(href)}")
        elif kind == "image":
            out.append(node.content or "image")
        else:
            _inline(node.children, links, out)
