"""Files the agent wrote, every version, and the diff between any two (unified or side by side).

Diffs are computed with difflib and drawn with Rich; `,`/`.` pick the older version, `<`/`>` the newer
one, `u` switches between unified and side-by-side.
"""

from __future__ import annotations

import difflib

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..state import FileVersion

MAX_DIFF_LINES = 3000


def unified_diff(path: str, old: FileVersion | None, new: FileVersion) -> str:
    return "".join(
        difflib.unified_diff(
            (old.content or "").splitlines(keepends=True) if old else [],
            (new.content or "").splitlines(keepends=True),
            fromfile=f"{path} v{old.version}" if old else "/dev/null",
            tofile=f"{path} v{new.version}",
        )
    )


def side_by_side(old_text: str, new_text: str) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(justify="right", style="dim", width=4)
    table.add_column(ratio=1, overflow="fold")
    table.add_column(justify="right", style="dim", width=4)
    table.add_column(ratio=1, overflow="fold")
    a, b = old_text.splitlines(), new_text.splitlines()
    rows = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            i, j = i1 + k, j1 + k
            left = a[i] if i < i2 else ""
            right = b[j] if j < j2 else ""
            old_style = {"replace": "red", "delete": "red"}.get(tag, "")
            new_style = {"replace": "green", "insert": "green"}.get(tag, "")
            table.add_row(
                str(i + 1) if i < i2 else "",
                Text(left, style=old_style),
                str(j + 1) if j < j2 else "",
                Text(right, style=new_style),
            )
            rows += 1
            if rows >= MAX_DIFF_LINES:
                table.add_row("", Text("… diff truncated", style="dim"), "", "")
                return table
    return table


class FilesPane(Horizontal):
    DEFAULT_CSS = """
    FilesPane { height: 1fr; }
    FilesPane > OptionList { width: 28; border: round $panel; background: $surface; }
    FilesPane > OptionList:focus { border: round $primary; }
    FilesPane > VerticalScroll { border: round $panel; background: $surface; }
    """
    BINDINGS = [
        Binding("comma", "older(-1)", "older from", id="files.from_older"),
        Binding("full_stop", "older(1)", "newer from", id="files.from_newer"),
        Binding("less_than_sign", "newer(-1)", "older to", show=False, id="files.to_older"),
        Binding("greater_than_sign", "newer(1)", "newer to", show=False, id="files.to_newer"),
        Binding("u", "toggle_mode", "unified/side-by-side", id="files.toggle_mode"),
    ]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.files: dict[str, list[FileVersion]] = {}
        self.path: str | None = None
        self.from_index: int | None = None  # into the versions list; None = before the first version
        self.to_index: int = 0
        self.mode = "unified"

    def compose(self) -> ComposeResult:
        yield OptionList(id="file-list")
        with VerticalScroll(id="diff-scroll"):
            yield Static(Text("No files written yet.", style="dim"), id="diff")

    def on_mount(self) -> None:
        self.query_one("#diff-scroll").border_title = "Diff"
        self.query_one("#file-list").border_title = "Files"

    def show(self, files: dict[str, list[FileVersion]]) -> None:
        """Refresh the list; keep the selected file, and follow its newest version when one arrives."""
        previous, self.files = self.files, files
        file_list = self.query_one("#file-list", OptionList)
        file_list.clear_options()
        for path, versions in files.items():
            file_list.add_option(Option(f"{path}  v{versions[-1].version}", id=path))
        if files:
            paths = list(files)
            if self.path not in files:
                self.path = paths[-1]
                self._select_latest()
            elif len(files[self.path]) != len(previous.get(self.path, [])):
                self._select_latest()
            file_list.highlighted = paths.index(self.path)
        self.render_diff()

    def select(self, path: str) -> None:
        self.path = path
        self._select_latest()
        self.render_diff()

    def _select_latest(self) -> None:
        versions = self.files.get(self.path or "", [])
        self.to_index = len(versions) - 1
        self.from_index = self.to_index - 1 if self.to_index >= 1 else None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "file-list" and event.option.id and event.option.id != self.path:
            self.select(event.option.id)

    def action_older(self, delta: int) -> None:
        versions = self.files.get(self.path or "", [])
        if not versions:
            return
        current = -1 if self.from_index is None else self.from_index
        target = max(-1, min(self.to_index - 1, current + delta))
        self.from_index = None if target < 0 else target
        self.render_diff()

    def action_newer(self, delta: int) -> None:
        versions = self.files.get(self.path or "", [])
        if not versions:
            return
        lowest = 0 if self.from_index is None else self.from_index + 1
        self.to_index = max(lowest, min(len(versions) - 1, self.to_index + delta))
        self.render_diff()

    def action_toggle_mode(self) -> None:
        self.mode = "side-by-side" if self.mode == "unified" else "unified"
        self.render_diff()

    def set_versions(self, path: str, old_version: int | None, new_version: int) -> None:
        """Show the diff between two version numbers of `path` (None = the empty file before v1)."""
        versions = self.files[path]
        numbers = [v.version for v in versions]
        self.path = path
        self.to_index = numbers.index(new_version)
        self.from_index = None if old_version is None else numbers.index(old_version)
        self.render_diff()

    def current_diff(self) -> tuple[FileVersion | None, FileVersion] | None:
        versions = self.files.get(self.path or "", [])
        if not versions:
            return None
        new = versions[self.to_index]
        old = versions[self.from_index] if self.from_index is not None else None
        return old, new

    def render_diff(self) -> None:
        diff = self.query_one("#diff", Static)
        scroll = self.query_one("#diff-scroll")
        pair = self.current_diff()
        if pair is None:
            diff.update(Text("No files written yet.", style="dim"))
            scroll.border_title = "Diff"
            return
        old, new = pair
        label = f"v{old.version}" if old else "∅"
        mode = (
            self.mode
            if self.mode == "unified" or scroll.size.width >= 70
            else "unified: too narrow for side by side"
        )
        scroll.border_title = f"{self.path}  {label} → v{new.version}  ({mode})"
        diff.update(self.diff_renderable(old, new))

    def diff_renderable(self, old: FileVersion | None, new: FileVersion) -> RenderableType:
        if new.content is None or (old is not None and old.content is None):
            return Text(f"Large file ({new.bytes:,} bytes): versions are tracked by hash only.", style="dim")
        if self.mode == "side-by-side" and self.query_one("#diff-scroll").size.width >= 70:
            return side_by_side(old.content if old else "", new.content)
        text = unified_diff(self.path or "", old, new)
        if not text:
            return Text("(no changes between these versions)", style="dim")
        lines = text.splitlines()
        if len(lines) > MAX_DIFF_LINES:
            text = "\n".join(lines[:MAX_DIFF_LINES]) + "\n… diff truncated"
        return Syntax(text, "diff", theme="ansi_dark", background_color="default", word_wrap=True)
