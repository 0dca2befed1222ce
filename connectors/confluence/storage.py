"""Confluence storage format (XHTML-like XML with ``ac:``/``ri:`` elements) to clean, sectioned text.

Storage format is not valid XHTML (no root element, no namespace declarations, HTML entities such as
``&nbsp;``), so it is read with the tolerant stdlib ``html.parser`` into a small tree and rendered from there:
headings open sections, lists stay lists, tables become ``cell | cell`` rows, code macros become fenced blocks,
panels keep their kind as a label, and links read as their titles.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from askdocs.connectors.parsing import html_sections, markdown_sections
from askdocs.models import Section

_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_VOID = {"br", "hr", "img", "col", "input", "meta", "link", "wbr", "source"}
_HEADING = re.compile(r"^h([1-6])$")
_CONTAINERS = {"div", "section", "article", "ac:layout", "ac:layout-section", "ac:layout-cell"}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "ac:layout",
    "ac:layout-section",
    "ac:layout-cell",
    "ac:rich-text-body",
    "ac:adf-content",
    "dl",
    "dd",
    "dt",
    "center",
    "ac:adf-extension",
    "ac:adf-node",
}
_SKIP = {
    "ac:parameter",
    "ac:placeholder",
    "ac:image",
    "ac:adf-fallback",
    "ac:adf-attribute",
    "script",
    "style",
    "colgroup",
    "ri:attachment",
    "ri:page",
    "ri:user",
    "ri:url",
    "ri:space",
    "ri:blog-post",
}
_PANELS = {
    "info": "Info",
    "note": "Note",
    "warning": "Warning",
    "tip": "Tip",
    "panel": "",
    "expand": "",
    "excerpt": "",
    "details": "",
    "section": "",
    "column": "",
    "ui-expand": "",
    "tabs-group": "",
    "tab": "",
}
_CODE_MACROS = {"code", "noformat", "markdown"}
_NEWLINE = "\x00"


@dataclass
class Node:
    """An element of the parsed tree; children are nodes or text."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def elements(self, *tags: str) -> list[Node]:
        """Direct child elements, optionally only those with one of ``tags``."""
        return [c for c in self.children if isinstance(c, Node) and (not tags or c.tag in tags)]

    def first(self, tag: str) -> Node | None:
        """The first direct child element named ``tag``."""
        found = self.elements(tag)
        return found[0] if found else None

    def raw_text(self) -> str:
        """All text below this node, verbatim."""
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += data
        else:
            children.append(data)


def parse_storage(storage: str) -> Node:
    """The tree of a storage-format fragment (CDATA sections become escaped text first)."""
    builder = _TreeBuilder()
    builder.feed(_CDATA.sub(lambda m: html.escape(m.group(1), quote=False), storage))
    builder.close()
    return builder.root


def _clean_inline(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("\u00a0", " "))
    return re.sub(r" ?\x00 ?", "\n", text).strip()


def _param(node: Node, name: str) -> str:
    for child in node.elements("ac:parameter"):
        if child.attrs.get("ac:name") == name:
            return " ".join(child.raw_text().split())
    return ""


class _Renderer:
    """Renders nodes to text: blocks separated by blank lines, inline runs collapsed."""

    def blocks(self, nodes: list[Node | str]) -> str:
        parts: list[str] = []
        inline: list[str] = []

        def flush() -> None:
            text = _clean_inline("".join(inline))
            if text:
                parts.append(text)
            inline.clear()

        for node in nodes:
            if isinstance(node, str):
                inline.append(node)
                continue
            is_block, text = self.node(node)
            if is_block:
                flush()
                if text.strip():
                    parts.append(text.strip("\n"))
            else:
                inline.append(text)
        flush()
        return "\n\n".join(parts)

    def inline(self, nodes: list[Node | str]) -> str:
        """Text of ``nodes`` on one line."""
        return " ".join(self.blocks(nodes).split())

    def node(self, node: Node) -> tuple[bool, str]:  # noqa: C901 - a dispatch table over tag names
        tag = node.tag
        if tag in _SKIP:
            return False, ""
        if tag == "br":
            return False, _NEWLINE
        if tag == "hr":
            return True, ""
        if _HEADING.match(tag):
            return True, self.inline(node.children)
        if tag in ("ul", "ol"):
            return True, self.list(node, 0)
        if tag == "table":
            return True, self.table(node)
        if tag == "pre":
            return True, "```\n" + node.raw_text().strip("\n") + "\n```"
        if tag == "ac:structured-macro" or tag == "ac:macro":
            return self.macro(node)
        if tag == "ac:link":
            return False, self.link(node)
        if tag == "ac:emoticon":
            fallback = node.attrs.get("ac:emoji-fallback", "")
            return False, fallback or f":{node.attrs.get('ac:name', 'emoticon')}:"
        if tag == "ac:task-list":
            return True, self.tasks(node)
        if tag == "ac:plain-text-body":
            return True, node.raw_text().strip("\n")
        if tag == "time":
            return False, node.attrs.get("datetime", "") or node.raw_text()
        if tag == "a":
            text = self.inline(node.children)
            return False, text or node.attrs.get("href", "")
        if tag in _BLOCKS:
            return True, self.blocks(node.children)
        text = self.blocks(node.children)
        return ("\n\n" in text), text if "\n\n" in text else text.replace("\n", _NEWLINE)

    def list(self, node: Node, depth: int) -> str:
        lines: list[str] = []
        for number, item in enumerate(node.elements("li"), 1):
            own = [c for c in item.children if not (isinstance(c, Node) and c.tag in ("ul", "ol"))]
            marker = f"{number}." if node.tag == "ol" else "-"
            text = " ".join(self.blocks(own).split())
            lines.append(f"{'  ' * depth}{marker} {text}".rstrip())
            for sub in item.elements("ul", "ol"):
                lines.append(self.list(sub, depth + 1))
        return "\n".join(line for line in lines if line.strip())

    def table(self, node: Node) -> str:
        rows: list[str] = []
        stack: list[Node] = [node]
        order: list[Node] = []
        while stack:  # rows in document order, through thead/tbody/tfoot, not into nested tables
            current = stack.pop(0)
            for child in current.elements():
                if child.tag == "tr":
                    order.append(child)
                elif child.tag in ("thead", "tbody", "tfoot"):
                    stack.append(child)
        for row in order:
            cells = [self.inline(cell.children) for cell in row.elements("td", "th")]
            if any(cells):
                rows.append(" | ".join(cells))
        return "\n".join(rows)

    def tasks(self, node: Node) -> str:
        lines = []
        for task in node.elements("ac:task"):
            status = task.first("ac:task-status")
            body = task.first("ac:task-body")
            done = status is not None and status.raw_text().strip() == "complete"
            text = self.inline(body.children) if body is not None else ""
            lines.append(f"[{'x' if done else ' '}] {text}")
        return "\n".join(lines)

    def link(self, node: Node) -> str:
        body = node.first("ac:link-body")
        if body is not None:
            text = self.inline(body.children)
            if text:
                return text
        plain = node.first("ac:plain-text-link-body")
        if plain is not None and plain.raw_text().strip():
            return " ".join(plain.raw_text().split())
        for resource in node.elements():
            attrs = resource.attrs
            if resource.tag in ("ri:page", "ri:blog-post"):
                return attrs.get("ri:content-title", "")
            if resource.tag == "ri:attachment":
                return attrs.get("ri:filename", "")
            if resource.tag == "ri:user":
                return "@" + (attrs.get("ri:username") or "user")
            if resource.tag == "ri:space":
                return attrs.get("ri:space-key", "")
            if resource.tag == "ri:url":
                return attrs.get("ri:value", "")
        return node.attrs.get("ac:anchor", "")

    def macro(self, node: Node) -> tuple[bool, str]:
        name = node.attrs.get("ac:name", "").lower()
        if name in _CODE_MACROS:
            plain = node.first("ac:plain-text-body")
            code = plain.raw_text().strip("\n") if plain is not None else ""
            if name == "markdown":
                return True, code
            language = _param(node, "language")
            title = _param(node, "title")
            fenced = f"```{language}\n{code}\n```"
            return True, f"{title}\n{fenced}" if title else fenced
        if name == "status":
            title = _param(node, "title")
            return False, f"[{title}]" if title else ""
        if name in ("jira", "anchor"):
            return False, _param(node, "key")
        rich = node.first("ac:rich-text-body")
        if rich is None:
            return False, ""
        body = self.blocks(rich.children)
        label = _PANELS.get(name, "")
        title = _param(node, "title")
        head = ": ".join(p for p in (label, title) if p)
        if not head:
            return True, body
        return True, f"{head}\n{body}" if body else head


def _has_heading(node: Node) -> bool:
    return any(
        isinstance(c, Node) and (_HEADING.match(c.tag) is not None or (c.tag in _CONTAINERS and _has_heading(c)))
        for c in node.children
    )


def storage_to_sections(storage: str) -> list[Section]:
    """Sections of a page body: each heading opens a section whose path is the heading trail."""
    renderer = _Renderer()
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    pending: list[Node | str] = []

    def flush() -> None:
        text = renderer.blocks(pending)
        if text.strip():
            sections.append(Section(path=[h for _, h in trail], text=text.strip()))
        pending.clear()

    def walk(nodes: list[Node | str]) -> None:
        for node in nodes:
            if isinstance(node, Node) and (match := _HEADING.match(node.tag)):
                heading = renderer.inline(node.children)
                if not heading:
                    continue
                flush()
                level = int(match.group(1))
                while trail and trail[-1][0] >= level:
                    trail.pop()
                trail.append((level, heading))
            elif isinstance(node, Node) and node.tag in _CONTAINERS and _has_heading(node):
                flush()
                walk(node.children)
                flush()
            else:
                pending.append(node)

    walk(parse_storage(storage).children)
    flush()
    return sections


def storage_to_text(storage: str) -> str:
    """The whole body as text, headings as Markdown-style lines."""
    parts: list[str] = []
    for section in storage_to_sections(storage):
        if section.path:
            parts.append("#" * len(section.path) + " " + section.path[-1])
        parts.append(section.text)
    return "\n\n".join(parts)


TEXT_SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
}
TEXT_MEDIA = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/csv": "csv",
    "text/html": "html",
}


def attachment_kind(filename: str, media_type: str) -> str | None:
    """``text``, ``markdown``, ``csv`` or ``html`` for text-like attachments; None for everything else."""
    suffix = "." + filename.rpartition(".")[2].lower() if "." in filename else ""
    return TEXT_SUFFIXES.get(suffix) or TEXT_MEDIA.get(media_type.split(";")[0].strip().lower())


def attachment_sections(raw: str, kind: str, filename: str) -> list[Section]:
    """Sections of a text-like attachment (CSV rows become ``cell | cell`` lines)."""
    if kind == "markdown":
        sections = markdown_sections(raw, filename)[1]
    elif kind == "html":
        sections = html_sections(raw)[1]
    elif kind == "csv":
        rows = [" | ".join(cell.strip() for cell in row) for row in csv.reader(io.StringIO(raw))]
        sections = [Section(path=[], text="\n".join(r for r in rows if r.strip(" |")))]
    else:
        sections = [Section(path=[], text=raw.strip())]
    return [s for s in sections if s.text.strip()] or [Section(path=[], text=filename)]
