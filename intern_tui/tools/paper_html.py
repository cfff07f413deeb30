"""Split a paper's HTML rendering (arXiv's LaTeXML pages at arxiv.org/html/<id>) into numbered sections.

LaTeXML marks sections as `<section class="ltx_section"><h2 class="ltx_title ltx_title_section"><span
class="ltx_tag ltx_tag_section">1 </span>Introduction</h2>…`, subsections with h3, subsubsections with h4,
run-in paragraph titles with h5 and the abstract with h6; maths carries its LaTeX source in `alttext`.
The parser keys on heading levels rather than on class names, so any HTML with h2–h4 headings splits
sensibly; navigation, page chrome, scripts and footnote bodies are dropped. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_SKIP_TAGS = {"head", "script", "style", "nav", "header", "footer", "button", "svg", "noscript", "form"}
_SKIP_CLASSES = (
    "ltx_page_header",
    "ltx_page_footer",
    "ltx_TOC",
    "ltx_note_outer",
    "ltx_note_mark",
    "ltx_authors",
    "ltx_dates",
)
_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "tr",
    "figcaption",
    "br",
    "section",
    "article",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
    "blockquote",
    "pre",
    "figure",
}
_SECTION_LEVEL = {"h2": 1, "h3": 2, "h4": 3}


@dataclass
class Section:
    number: str
    title: str
    level: int
    parts: list[str] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}".strip()

    @property
    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).split("\n"))
        return "\n".join(line for line in lines if line)


@dataclass
class PaperDocument:
    title: str
    sections: list[Section]

    def toc(self) -> list[str]:
        """Headings indented by level, with the size of each section's own text."""
        return [f"{'  ' * (s.level - 1)}{s.heading} ({len(s.text):,} chars)" for s in self.sections]

    def find(self, query: str) -> list[Section]:
        """Sections matching a number ('3', '3.2', 'A'), a heading or a word in it; the first match and
        its subsections are returned."""
        q = query.strip().lower().rstrip(".")
        index = None
        for exact in (True, False):
            for i, s in enumerate(self.sections):
                number = s.number.lower().rstrip(".")
                title = s.title.lower()
                if exact and (
                    q == number or q == title or q == s.heading.lower() or number == f"appendix {q}"
                ):
                    index = i
                elif not exact and q in s.heading.lower():
                    index = i
                if index is not None:
                    break
            if index is not None:
                break
        if index is None:
            return []
        found = [self.sections[index]]
        for s in self.sections[index + 1 :]:
            if s.level <= found[0].level:
                break
            found.append(s)
        return found


class _LatexmlParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[Section] = [Section("", "Front matter", 1)]
        self._skip: list[str] = []  # tag names whose content is being skipped (nested)
        self._heading: tuple[str, str] | None = None  # (tag, class) of the heading being read
        self._heading_text: list[str] = []
        self._tag_text: list[str] = []
        self._in_tag_span = 0
        self._math = 0

    # Skipped regions are tracked by tag name so that nested same-name tags end them correctly.
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.append(tag)
            return
        if tag in _SKIP_TAGS or any(c in cls.split() for c in _SKIP_CLASSES):
            self._skip.append(tag)
            return
        if tag == "math":
            self._math += 1
            if self._math == 1:
                tex = (a.get("alttext") or "").strip()
                self._emit(f" ${tex}$ " if tex else " [math] ")
            return
        if self._math:
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading, self._heading_text, self._tag_text = (tag, cls), [], []
            return
        if tag == "span" and "ltx_tag" in cls.split() and self._heading:
            self._in_tag_span += 1
            return
        if self._in_tag_span and tag == "span":
            self._in_tag_span += 1
        if tag in ("td", "th"):
            self._emit(" | ")
        elif tag in _BLOCK_TAGS:
            self._emit("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skip and not self._math and tag == "br":
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag == "math":
            self._math = max(0, self._math - 1)
            return
        if self._math:
            return
        if self._in_tag_span and tag == "span":
            self._in_tag_span -= 1
            return
        if self._heading and tag == self._heading[0]:
            self._end_heading()
            return
        if tag in _BLOCK_TAGS:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self._skip or self._math:
            return
        if self._heading:
            (self._tag_text if self._in_tag_span else self._heading_text).append(data)
        else:
            self._emit(data)

    def _emit(self, text: str) -> None:
        if self._heading:
            self._heading_text.append(text)
        else:
            self.sections[-1].parts.append(text)

    def _end_heading(self) -> None:
        tag, cls = self._heading or ("", "")
        number = " ".join("".join(self._tag_text).split())
        text = " ".join("".join(self._heading_text).split())
        self._heading, self._in_tag_span = None, 0
        if not number:  # headings typed as "3 Method" / "3. Method" without a tag span
            m = re.match(r"^((?:Appendix\s+)?(?:[A-Z]|\d+)(?:\.\d+)*)\.?\s+(\S.*)$", text)
            if m and tag in _SECTION_LEVEL:
                number, text = m.group(1), m.group(2)
        if tag == "h1" or "ltx_title_document" in cls:
            self.title = self.title or text
        elif "ltx_title_abstract" in cls or (tag == "h6" and text.lower() == "abstract"):
            self.sections.append(Section("", "Abstract", 1))
        elif tag in _SECTION_LEVEL:
            self.sections.append(Section(number, text, _SECTION_LEVEL[tag]))
        else:  # h5/h6 run-in titles stay in the running text
            self._emit(f"\n{(number + ' ' + text).strip()} ")


def parse_paper_html(html: str) -> PaperDocument:
    parser = _LatexmlParser()
    parser.feed(html)
    parser.close()
    sections = [s for s in parser.sections if s.text or s.title != "Front matter"]
    return PaperDocument(parser.title, sections)
