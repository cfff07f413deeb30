"""The approval queue: pending requests, the selected one decided from the keyboard (a / A / d / e),
enter opens the full request."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...display import cost_facts, ordered_arguments
from ..state import ApprovalItem

SHORT_DIFF = 8  # diff lines shown in the queue itself (on a terminal of ROOMY_HEIGHT rows or more)
ROOMY_HEIGHT = 40
KEYS_HINT = "enter details · a approve · A always · d deny · e edit"


def summarize_arguments(arguments: dict[str, Any], width: int = 80) -> str:
    """Every argument as `key=value`, in full (the important ones first): an approval is never judged on
    a value cut in half. Multi-line strings (scripts, file contents) are folded onto one line."""
    parts = []
    for key in ordered_arguments(arguments):
        value = arguments[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}={' '.join(str(text).split()) if isinstance(value, str) else text}")
    return ", ".join(parts)


def request_label(item: ApprovalItem, inline_diff: bool = True) -> Text:
    """One queue entry: the tool and what it spends, its guard flags, what the approval pins to run (the
    diff itself is in the detail view: enter), then every argument."""
    facts = cost_facts(item.arguments, item.estimate)
    label = Text.assemble(
        (item.tool, "bold yellow"),
        (f"  step {item.step}" if item.step else "", "dim"),
        ("  " + " · ".join(facts) if facts else "", "bold"),
    )
    for flag in item.estimate.get("flags") or []:
        label.append(f"\n  ⚠ {flag}", style="bold red")
    pinned = item.pinned or {}
    if pinned.get("diff"):
        added = sum(
            1 for line in pinned["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")
        )
        removed = sum(
            1 for line in pinned["diff"].splitlines() if line.startswith("-") and not line.startswith("---")
        )
        against = "the last approved version" if pinned.get("previous_sha256") else "nothing approved yet"
        label.append(
            f"\n  script diff vs {against}: +{added} −{removed} lines (enter shows it)", style="italic"
        )
    elif pinned.get("note"):
        label.append(f"\n  {pinned['note']}", style="italic")
    label.append("\n  ")
    label.append(summarize_arguments(item.arguments))
    diff_lines = (pinned.get("diff") or "").splitlines()
    if inline_diff and 0 < len(diff_lines) <= SHORT_DIFF:  # short: shown here too (a long one: enter)
        for line in diff_lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            label.append(f"\n    {line}", style="bold " + style if line[:3] in ("+++", "---") else style)
    return label


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
    ApprovalQueue { height: auto; max-height: 50%; border: round $warning; background: $surface; }
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
            self.border_subtitle = ""
            return
        self.remove_class("-empty")
        self.border_title = f"Approvals · {len(pending)} pending"
        self.border_subtitle = KEYS_HINT
        roomy = self.app.size.height >= ROOMY_HEIGHT
        for item in pending:
            self.add_option(Option(request_label(item, inline_diff=roomy), id=item.id))
        index = ids.index(previous.id) if previous and previous.id in ids else 0
        self.highlighted = index

    @property
    def selected(self) -> ApprovalItem | None:
        if not self.items:
            return None
        index = self.highlighted if self.highlighted is not None else 0
        return self.items[min(index, len(self.items) - 1)]
