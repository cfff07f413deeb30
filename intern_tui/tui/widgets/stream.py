"""The agent stream: each step's thought (Markdown), code (highlighted), observation (collapsed when
long), and the errors, alerts, redirects and approvals between them. Append-only; it follows the tail
unless the user has scrolled up.

Rendering an item (Markdown, highlighted code) is the expensive part, so each item is rendered once per
width into lines that are cached, and a rebuild (a replay seek, a resize) draws only the newest items
that fill about two screens of the pane, not its whole history."""

from __future__ import annotations

from collections import OrderedDict

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.padding import Padding
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text
from textual.message import Message
from textual.widgets import RichLog, Static

from ...display import describe_retry
from ..glyphs import Glyphs
from ..state import LiveCall, StreamItem

OBSERVATION_LINES = 12
REPLAY_WINDOW = 40  # at most this many items drawn when a replay view is rebuilt; older ones are a seek away
LIVE_WINDOW = 200  # at most this many items redrawn when the live stream is re-wrapped (resize, shown again)
SCREENS_KEPT = 2  # a rebuild draws the newest items until they fill this many pane heights
CACHE_ITEMS = 400  # rendered items kept (per width)


class StreamMarkdown(Markdown):
    """rich's Markdown with one shared parser: rich builds a new MarkdownIt (rules, linkify) for every
    instance, ~5 ms each, which a replay seek that renders a screen of thoughts pays several times."""

    _parser = None
    _defaults: dict | None = None

    def __init__(self, markup: str) -> None:  # noqa: D107 (rich's __init__ is what this avoids)
        if StreamMarkdown._parser is None:
            from markdown_it import MarkdownIt

            StreamMarkdown._parser = MarkdownIt().enable("strikethrough").enable("table")  # as rich's
            StreamMarkdown._defaults = dict(vars(Markdown("")))  # rich's defaults for every other field
        self.__dict__.update(StreamMarkdown._defaults)
        self.markup = markup
        self.parsed = StreamMarkdown._parser.parse(markup)


class _Lines:
    """Already-rendered lines, written to the log without rendering the item again."""

    def __init__(self, lines: list[list[Segment]]):
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines:
            yield from line
            yield newline


class AgentStream(RichLog):
    DEFAULT_CSS = """
    AgentStream { background: $surface; border: round $panel; padding: 0 1; scrollbar-size-vertical: 1; }
    AgentStream:focus { border: round $primary; }
    """

    def __init__(self, glyphs: Glyphs | None = None, **kw):
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=20_000, min_width=40, **kw)
        self.glyphs = glyphs or Glyphs()
        self.rendered = 0  # how many of the model's stream items are drawn
        self.rendered_width = 0  # the width the drawn lines were wrapped at
        self.border_title = "Agent"
        self.expanded: set[int] = set()
        self._cache: OrderedDict[tuple, list[list[Segment]]] = OrderedDict()
        self._generation = 0  # bumped by every rebuild and append: a deferred fill knows it is stale

    class NeedsRebuild(Message):
        """The stream's width changed: its lines were wrapped for another width and must be redrawn."""

    @property
    def shown(self) -> bool:
        """False while the stream is hidden (narrow layout, zoom): lines written now would wrap wrongly."""
        return self.display and self.region.width > 0

    def on_resize(self, event) -> None:
        width = self.scrollable_content_region.width
        if width > 0 and self.rendered and width != self.rendered_width:
            self.post_message(self.NeedsRebuild())

    def append_items(self, items: list[StreamItem]) -> None:
        if items:
            self._generation += 1
        width = self.scrollable_content_region.width
        self.rendered_width = width
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        for item in items:
            lines = self.item_lines(item, width)
            if lines:  # wrapped at the pane's width (not the console's)
                self.write(_Lines(lines), width=width if width >= 20 else None, scroll_end=follow)
        self.rendered += len(items)

    def rebuild(self, items: list[StreamItem], window: int = REPLAY_WINDOW) -> None:
        """Redraw from scratch (replay, resume, resize): the newest items up to the chosen point, as many
        as fill SCREENS_KEPT pane heights (at most `window`). The screen that shows is drawn now; the ones
        above it right after that frame, so a seek is on screen before the scroll-back is rendered."""
        self._generation += 1
        height = max(self.scrollable_content_region.height, 20)
        if self._draw(items, window, room=height + 2):
            generation = self._generation
            self.call_after_refresh(self._fill_above, items, window, generation)

    def _fill_above(self, items: list[StreamItem], window: int, generation: int) -> None:
        """After a rebuild's first frame: draw again with SCREENS_KEPT screens, unless the stream moved on
        since (another rebuild, new items, the user scrolled)."""
        stale = generation != self._generation or not self.is_mounted
        if stale or not self.shown or not self.is_vertical_scroll_end:
            return
        rendered = self.rendered
        self._draw(items, window, room=SCREENS_KEPT * max(self.scrollable_content_region.height, 20))
        self.rendered = rendered

    def _draw(self, items: list[StreamItem], window: int, room: int) -> bool:
        """Clear, then draw the newest items that fill `room` lines; True if older ones were left out."""
        self.clear()
        self.rendered = 0
        width = self.scrollable_content_region.width
        first, lines = len(items), 0
        while first > 0 and len(items) - first < window and lines < room:
            first -= 1
            lines += len(self.item_lines(items[first], width))
        if first:
            self.write(Text(f"… {first} earlier items (seek back to see them)", style="dim"))
        self.append_items(items[first:])
        self.rendered = len(items)
        self.scroll_end(animate=False)
        return first > 0 and len(items) - first < window

    def item_lines(self, item: StreamItem, width: int) -> list[list[Segment]]:
        """The item rendered at `width` (cached: a seek back and forth renders nothing twice)."""
        width = width if width >= 20 else 80
        key = (item.seq, hash(item.text), width, item.seq in self.expanded, self._code_background())
        lines = self._cache.get(key)
        if lines is not None:
            self._cache.move_to_end(key)
            return lines
        renderable = self.render_item(item)
        if renderable is None:
            lines = []
        else:
            console = self.app.console
            lines = console.render_lines(renderable, console.options.update_width(width), pad=False)
        self._cache[key] = lines
        if len(self._cache) > CACHE_ITEMS:
            self._cache.popitem(last=False)
        return lines

    def render_item(self, item: StreamItem) -> RenderableType | None:
        g = self.glyphs
        step = f"step {item.step}" if item.step else ""
        kind = item.kind
        if kind == "reasoning":  # collapsed: the whole text is in the step view (o)
            words = len(item.text.split())
            first = " ".join(item.text.split())[:80]
            return Group(
                Text(""),
                Text(
                    f"{g.thought} {step} · reasoning, {words:,} words (o: open the step)", style="dim italic"
                ),
                Padding(Text(first + ("…" if len(item.text) > 80 else ""), style="dim"), (0, 0, 0, 2)),
            )
        if kind == "thought":
            header = Text.assemble((f"{g.thought} {step}", "bold cyan"))
            return Group(Text(""), header, Padding(StreamMarkdown(item.text or "…"), (0, 0, 0, 2)))
        if kind in ("retry", "cutoff"):
            return Padding(Text(f"{g.warn} {item.text}", style="yellow"), (0, 0, 0, 2))
        if kind == "code":
            return Padding(
                Syntax(
                    item.text,
                    "python",
                    theme="ansi_dark",
                    word_wrap=True,
                    background_color=self._code_background(),
                ),
                (0, 0, 0, 2),
            )
        if kind == "observation":
            return Padding(self._with_stats(self._observation(item), item), (0, 0, 0, 2))
        if kind == "error":
            text = Text(f"{g.fail} {_clip_lines(item.text, OBSERVATION_LINES)}", style="red")
            return Padding(self._with_stats(text, item), (0, 0, 0, 2))
        if kind == "task":
            return Text.assemble(("TASK ", "bold reverse"), " ", (item.text, "bold"))
        if kind == "approval":
            style = {"approved": "green", "denied": "red"}.get(item.meta.get("status", ""), "bold yellow")
            return Text(f"{g.warn} {item.text}", style=style)
        if kind == "alert":
            style = "bold red" if item.meta.get("severity") == "critical" else "bold yellow"
            return Text(f"{g.warn} ALERT {item.meta.get('job_id') or ''}: {item.text}", style=style)
        if kind == "redirect":
            return Text(f"{g.redirect} {item.text}", style="bold magenta")
        if kind in ("doom", "compacted"):
            return Text(f"{g.warn} {item.text}", style="yellow")
        if kind == "job":
            return Text(f"{g.job} {item.text}", style="blue")
        if kind == "eval":
            return Text(f"{g.ok} {item.text}", style="bold green")
        if kind == "file":
            return Text(f"{g.file} {item.text}", style="dim")
        if kind == "plan":
            lines = [
                f"{g.ok if i.get('status') == 'done' else g.run if i.get('status') == 'in_progress' else g.dot} "
                f"{i.get('text', '')}"
                for i in item.meta.get("items", [])
            ]
            return Text("\n".join([item.text, *lines]), style="cyan")
        if kind == "final":
            return Group(
                Text(""),
                Text(f"{g.final} FINAL ANSWER", style="bold green"),
                Padding(StreamMarkdown(item.text), (0, 0, 0, 2)),
            )
        if kind == "control":
            return Text(f"── {item.text} ──", style="dim italic")
        return Text(item.text)

    def _with_stats(self, text: Text, item: StreamItem) -> Text:
        """The step's time, each tool's run time, its tokens and cost, under its observation."""
        if item.meta.get("stats"):
            text = text.copy()
            text.append(f"\n{self.glyphs.dot} {item.meta['stats']}", style="dim italic")
        return text

    def _code_background(self) -> str:
        return self.app.theme_variables.get("panel", "default") if self.is_mounted else "default"

    def _observation(self, item: StreamItem) -> Text:
        text = item.text.replace("Last output from code snippet:\nNone", "").strip()
        if not text:
            return Text("(no output)", style="dim")
        if item.seq in self.expanded:
            return Text(text, style="dim")
        return Text(_clip_lines(text, OBSERVATION_LINES), style="dim")


def _clip_lines(text: str, limit: int) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    return "\n".join(lines[:limit]) + f"\n… {len(lines) - limit} more lines (o: open the step)"


class LiveReply(Static):
    """Under the stream: the model call in flight — "model is thinking · 12 s · 340 tok", a retry
    countdown, and the last lines of the reply as it streams (thought, then code). Redrawn at the App's
    drain rate from the reducer's LiveCall, only when what it shows changed."""

    DEFAULT_CSS = """
    LiveReply { height: auto; max-height: 9; padding: 0 1; color: $text-muted; display: none; }
    LiveReply.-active { display: block; }
    """
    TAIL_LINES = 6

    def __init__(self, glyphs: Glyphs | None = None, **kw):
        super().__init__("", **kw)
        self.glyphs = glyphs or Glyphs()
        self._last: str | None = None

    def show(self, call: LiveCall | None, now: float) -> None:
        if call is None:
            if self._last is not None:
                self._last = None
                self.remove_class("-active")
                self.update("")
            return
        text = live_text(call, now, self.glyphs, self.TAIL_LINES)
        if text.plain != self._last:
            self._last = text.plain
            self.add_class("-active")
            self.update(text)


def live_text(call: LiveCall, now: float, glyphs: Glyphs, tail_lines: int = 6) -> Text:
    g = glyphs
    if call.retry is not None:
        left = max(0.0, float(call.retry.get("wait_s") or 0) - (now - call.retry["ts"]))
        return Text(f"{g.warn} {describe_retry(call.retry, wait_left=left)}", style="bold yellow")
    seconds = max(0, int(now - call.started_ts))
    head = Text(f"{g.run} model is thinking {g.dot} {seconds} s {g.dot} {call.tokens} tok", style="bold")
    if call.attempt > 1:
        head.append(f" {g.dot} attempt {call.attempt}", style="yellow")
    lines = [head]
    if call.reasoning_chars and not call.text:
        lines.append(Text(f"  reasoning… {call.reasoning_chars:,} characters", style="dim italic"))
    if call.text:
        tail = call.text[-4000:].splitlines()[-tail_lines:]
        lines.extend(Text("  " + line, style="dim") for line in tail)
    return Text("\n").join(lines)
