"""Turn Markdown, plain text and HTML into titled sections (heading trail + text)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from askdocs.models import Section

# An optional closing run of '#' must follow a space (CommonMark), so "## Using C#" keeps its '#'.
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split ``---``-delimited ``key: value`` front matter from the body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, min(len(lines), 60)):
        if lines[end].strip() == "---":
            meta: dict[str, str] = {}
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                if sep and key.strip():
                    meta[key.strip().lower()] = value.strip().strip("\"'")
            return meta, "\n".join(lines[end + 1 :])
    return {}, text


def markdown_sections(body: str, title: str | None = None) -> tuple[str | None, list[Section]]:
    """Sections of a Markdown body; a leading H1 becomes the title when none is given."""
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    buffer: list[str] = []
    in_fence = False
    found_title = title

    def flush() -> None:
        text = "\n".join(buffer).strip()
        if text:
            sections.append(Section(path=[h for _, h in trail], text=text))
        buffer.clear()

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if not match:
            buffer.append(line)
            continue
        level, heading = len(match.group(1)), match.group(2).strip()
        flush()
        if level == 1 and found_title is None and not sections and not trail:
            found_title = heading
            continue
        if level == 1 and heading == found_title and not trail:
            continue
        while trail and trail[-1][0] >= level:
            trail.pop()
        trail.append((level, heading))
    flush()
    return found_title, sections


def text_sections(body: str) -> tuple[str | None, list[Section]]:
    """Plain text: the first non-empty line is the title, the rest one section per blank-line block group."""
    lines = body.strip().splitlines()
    if not lines:
        return None, []
    title = lines[0].strip()
    rest = "\n".join(lines[1:]).strip()
    return title, [Section(path=[], text=rest)] if rest else []


class _HtmlToSections(HTMLParser):
    _BLOCKS = {"p", "div", "br", "li", "tr", "table", "ul", "ol", "pre", "blockquote", "section", "article", "dd", "dt"}
    _SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.sections: list[Section] = []
        self._trail: list[tuple[int, str]] = []
        self._buffer: list[str] = []
        self._heading: list[str] | None = None
        self._heading_level = 0
        self._skip = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._first_cell = True

    def _flush(self) -> None:
        text = re.sub(r"[ \t]+", " ", "".join(self._buffer))
        text = re.sub(r"\n\s*\n\s*", "\n\n", re.sub(r" *\n *", "\n", text)).strip()
        if text:
            self.sections.append(Section(path=[h for _, h in self._trail], text=text))
        self._buffer.clear()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading, self._heading_level = [], int(tag[1])
        elif tag == "li":
            self._buffer.append("\n- ")
        elif tag == "tr":
            self._buffer.append("\n")
            self._first_cell = True
        elif tag in ("td", "th"):
            self._buffer.append("" if self._first_cell else " | ")
            self._first_cell = False
        elif tag in self._BLOCKS:
            self._buffer.append("\n\n" if tag in ("p", "pre", "blockquote", "table") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split()) or None
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            heading = " ".join("".join(self._heading).split())
            level = self._heading_level
            self._heading = None
            if not heading:
                return
            if level == 1 and (self.title is None or self.title == heading) and not self._trail:
                self.title = self.title or heading
                return
            while self._trail and self._trail[-1][0] >= level:
                self._trail.pop()
            self._trail.append((level, heading))
        elif tag in self._BLOCKS:
            self._buffer.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif self._skip:
            return
        elif self._heading is not None:
            self._heading.append(data)
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_sections(html: str) -> tuple[str | None, list[Section]]:
    """Sections of an HTML page: headings open sections; lists, tables and paragraphs become lines."""
    parser = _HtmlToSections()
    parser.feed(html)
    parser.close()
    return parser.title, parser.sections
