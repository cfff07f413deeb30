"""Terminal control sequences never reach the user's terminal from data we did not write.

Agent output, job logs, tool results and imported sessions can hold ESC/OSC sequences: an OSC 52 that
writes the clipboard, an OSC 8 link that lies about its target, a CSI that clears the screen or hides
text, a title change. Everything an event holds passes through here in the emitter (and in `sessions
import`), so the store, the TUI, replay, exports and headless output only ever see plain text.

Kept: newline and tab. Carriage returns become newlines (progress bars overwrite a line with \\r).
Removed: ESC sequences (CSI, OSC, DCS/SOS/PM/APC with their string, two-character ESC codes), their
8-bit C1 forms, and every other C0/C1 control character and DEL.
"""

from __future__ import annotations

import re
from typing import Any

_SEQUENCES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                      # CSI … final byte
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC … terminator
  | \x1b[ -/]*[0-~]?                                      # other ESC codes (and a lone ESC)
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NEEDS_WORK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# In JSON text control characters appear escaped; C1 characters appear raw (ensure_ascii=False).
_JSON_NEEDS_WORK = re.compile(r"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bfr]|[\x7f-\x9f]")


def clean_text(text: str) -> str:
    """`text` without terminal control sequences (the same object when there were none)."""
    if not _NEEDS_WORK.search(text):
        return text
    text = _SEQUENCES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def clean_value(value: Any) -> Any:
    """Clean every string inside a JSON-like value (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


def json_needs_cleaning(payload_json: str) -> bool:
    """A cheap test on a payload's JSON: could it hold a control character?"""
    return _JSON_NEEDS_WORK.search(payload_json) is not None
