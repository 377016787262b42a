"""HTML mail bodies as plain text: crude on purpose, enough to read an alert in a timeline."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _TextExtractor(HTMLParser):
    HIDDEN = frozenset(("script", "style", "head", "title"))
    # Source newlines are mere spaces in HTML: only these tags break lines.
    PARAGRAPHS = frozenset(("p", "div", "table", "ul", "ol", "h1", "h2", "h3", "h4", "pre", "hr"))
    OPENERS = {"br": "\n", "tr": "\n", "li": "\n", "td": " ", "th": " "}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        self.parts.append("\n\n" if tag in self.PARAGRAPHS else self.OPENERS.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        self.hidden = max(0, self.hidden - (tag in self.HIDDEN))
        self.parts.append("\n\n" if tag in self.PARAGRAPHS else "")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Crude text of an HTML body: for mails that send no text part, not for rendering."""
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- From a Mail to an event ------------------------------------------------------------------
