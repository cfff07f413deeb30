"""The approval queue: pending requests, the selected one decided from the keyboard (a / A / d / e),
enter opens the full request."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..state import ApprovalItem


def summarize_arguments(arguments: dict[str, Any], width: int = 80) -> str:
    parts = []
    for key, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = " ".join(str(text).split())
        parts.append(f"{key}={text[:40] + '…' if len(text) > 40 else text}")
    line = ", ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def estimate_text(estimate: dict[str, Any]) -> str:
    if not estimate:
        return ""
    if estimate.get("summary"):
        return str(estimate["summary"])
    bits = []
    if estimate.get("gpu_hours"):
        bits.append(f"{estimate['gpu_hours']:.2f} GPU-h")
    if estimate.get("usd"):
        bits.append(f"${estimate['usd']:.2f}")
    return ", ".join(bits)


class ApprovalQueue(OptionList):
    DEFAULT_CSS = """
    ApprovalQueue { height: auto; max-height: 8; border: round $warning; background: $surface; }
    ApprovalQueue.-empty { border: round $panel; max-height: 3; }
    ApprovalQueue:focus { border: round $accent; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.items: list[ApprovalItem] = []
        self.border_title = "Approvals"
        self.read_only = False

    def show(self, pending: list[ApprovalItem]) -> None:
        ids = [a.id for a in pending]
        if ids == [a.id for a in self.items]:
            return
        previous = self.selected
        self.items = list(pending)
        self.clear_options()
        if not pending:
            self.add_option(Option(Text("No pending approvals", style="dim"), disabled=True))
            self.add_class("-empty")
            self.border_title = "Approvals"
            return
        self.remove_class("-empty")
        self.border_title = f"Approvals · {len(pending)} pending"
        for item in pending:
            label = Text.assemble(
                (f"{item.tool}", "bold yellow"),
                "  ",
                summarize_arguments(item.arguments),
                "  ",
                (estimate_text(item.estimate), "italic"),
                (f"  step {item.step}" if item.step else "", "dim"),
            )
            self.add_option(Option(label, id=item.id))
        index = ids.index(previous.id) if previous and previous.id in ids else 0
        self.highlighted = index

    @property
    def selected(self) -> ApprovalItem | None:
        if not self.items:
            return None
        index = self.highlighted if self.highlighted is not None else 0
        return self.items[min(index, len(self.items) - 1)]
