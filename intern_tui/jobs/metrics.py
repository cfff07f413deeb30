"""Training metrics from what jobs write: stdout dict lines, our JSONL callback file, trainer_state.json.

Pure functions plus `MetricsTracker`, which merges the sources of one job into one stream of `job_metric`
payloads: `{"job_id", "step", "values": {name: float}, "source": "jsonl" | "stdout" | "trainer_state"}`.

Real-world logs are messy (see the fixtures): values printed as strings (`'loss': '0.2013'`), tqdm bars
joined by `\r` on the same line as a dict, ANSI escapes, block-buffered output out of order, truncated
lines. Parsing never raises; what can't be parsed is skipped and counted in `MetricsTracker.stats`.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..metric_values import to_number

# A line our templates print (besides the JSONL file) where the file can't be read, e.g. on HF Jobs.
STDOUT_MARKER = "@@intern-tui-metric@@"

# A dict is a metrics dict when it has one of these keys (or prefixes); others (model configs, token ids,
# generation kwargs) are ignored.
METRIC_KEYS = frozenset(
    {
        "loss",
        "reward",
        "reward_std",
        "learning_rate",
        "grad_norm",
        "epoch",
        "kl",
        "entropy",
        "num_tokens",
        "mean_token_accuracy",
        "frac_reward_zero_std",
        "completion_length",
        "accuracy",
    }
)
METRIC_PREFIXES = (
    "eval_",
    "train_",
    "rewards/",
    "completions/",
    "logps/",
    "logits/",
    "clip_ratio/",
    "objective/",
)
# Keys that say where a record is, not what it measured.
POSITION_KEYS = frozenset({"step", "global_step", "current_steps", "total_steps"})
# LLaMA-Factory progress fields: not training metrics.
PROGRESS_KEYS = frozenset({"percentage", "elapsed_time", "remaining_time"})

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_METRIC_START = re.compile(r"""\{\s*['"](?:loss|eval_|train_|reward|learning_rate|grad_norm|epoch|kl)""")
# Bare nan/inf (Python's repr of a float) are not literals: quote them, then convert like numeric strings.
_BARE_NONFINITE = re.compile(r"(?<=[:\[,(\s])(-?(?:nan|inf))(?=\s*[,}\])])")
_WRAPPED_NUMBER = re.compile(r"\b(?:np\.float\d*|numpy\.float\d*|np\.int\d*|tensor)\(([^()]*)\)")


def clean_line(raw: str) -> str:
    """What a terminal would finally show for one log line: ANSI escapes removed, and of a line of
    `\\r`-joined progress updates only the last non-empty segment."""
    text = _ANSI.sub("", raw)
    if "\r" in text:
        segments = [s for s in text.split("\r") if s.strip()]
        text = segments[-1] if segments else ""
    return text.rstrip()


def is_metric_key(key: str) -> bool:
    return key in METRIC_KEYS or key.startswith(METRIC_PREFIXES)


def numeric_values(record: dict[str, Any], skip: Iterable[str] = POSITION_KEYS) -> dict[str, float]:
    """The numeric values of a record (numeric strings converted; NaN/inf kept), without position keys."""
    skip = set(skip)
    out: dict[str, float] = {}
    for key, value in record.items():
        if not isinstance(key, str) or key in skip:
            continue
        number = to_number(value)
        if number is not None:
            out[key] = number
    return out


def _brace_spans(text: str) -> Iterable[tuple[int, int | None]]:
    """(start, end) of each top-level `{...}` in text, honouring quotes; end None when it never closes."""
    i, n = 0, len(text)
    while True:
        start = text.find("{", i)
        if start < 0:
            return
        depth, quote, j = 0, "", start
        while j < n:
            c = text[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            yield start, None
            return
        yield start, j + 1
        i = j + 1


def _literal_dict(span: str) -> dict | None:
    text = _WRAPPED_NUMBER.sub(r"\1", span)
    text = _BARE_NONFINITE.sub(r"'\1'", text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:  # JSON spelling: true/false/null, NaN/Infinity
            value = json.loads(span)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def find_metric_dicts(line: str) -> tuple[list[dict[str, float]], int]:
    """Every metrics dict literal in a line, and how many metric-looking dicts could not be parsed."""
    text = _ANSI.sub("", line)
    found: list[dict[str, float]] = []
    malformed = 0
    for start, end in _brace_spans(text):
        span = text[start:end] if end is not None else text[start:]
        parsed = _literal_dict(span) if end is not None else None
        if parsed is None:
            if _METRIC_START.match(span):
                malformed += 1
            continue
        if any(isinstance(k, str) and is_metric_key(k) for k in parsed):
            values = numeric_values(parsed)
            if values:
                found.append(values)
    return found, malformed


def parse_dict_line(line: str) -> dict[str, float] | None:
    """The first Trainer/TRL metrics dict (`{'loss': 1.2, ...}`) anywhere in a line, as floats; else None."""
    found, _ = find_metric_dicts(line)
    return found[0] if found else None


def record_step(record: dict[str, Any]) -> int | None:
    """The logging step of a JSONL/trainer_state record (`step`, LLaMA-Factory's `current_steps`, …)."""
    for key in ("step", "current_steps", "global_step"):
        value = to_number(record.get(key))
        if value is not None and math.isfinite(value):
            return int(value)
    return None


def parse_jsonl_record(line: str) -> tuple[int | None, dict[str, float]] | None:
    """One line of our metrics JSONL (`{"step": n, ...}`) or LLaMA-Factory's trainer_log.jsonl
    (`{"current_steps": n, ...}`): (step, values); None when the line is not a JSON object."""
    text = line.strip()
    if text.startswith(STDOUT_MARKER):
        text = text[len(STDOUT_MARKER) :].strip()
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return record_step(record), numeric_values(record, POSITION_KEYS | PROGRESS_KEYS)


def parse_trainer_state(source: dict | str | Path) -> list[tuple[int, dict[str, float]]]:
    """The `log_history` of a trainer_state.json (a path, its text, or the loaded dict) as (step, values).

    Entries without a step or without numeric values are skipped. Raises ValueError for text that is not
    a trainer state at all."""
    if isinstance(source, Path):
        source = source.read_text(encoding="utf-8")
    data = json.loads(source) if isinstance(source, str) else source
    history = data.get("log_history") if isinstance(data, dict) else None
    if not isinstance(history, list):
        raise ValueError("not a trainer_state.json: no log_history list")
    out = []
    for entry in history:
        if not isinstance(entry, dict):
            continue
        step = record_step(entry)
        values = numeric_values(entry)
        if step is not None and values:
            out.append((step, values))
    return out


def parse_llamafactory_log(text: str) -> list[tuple[int, dict[str, float]]]:
    """LLaMA-Factory's trainer_log.jsonl as (step, values); malformed lines skipped."""
    out = []
    for line in text.splitlines():
        parsed = parse_jsonl_record(line)
        if parsed and parsed[0] is not None and parsed[1]:
            out.append((parsed[0], parsed[1]))
    return out


def record_kind(values: dict[str, float]) -> str:
    """Which logging event a record is: the end-of-training summary, an evaluation, or a training log.
    A training log and an evaluation can share a step; they are different records."""
    if "train_runtime" in values or "train_loss" in values:
        return "summary"
    if values and all(k.startswith("eval_") or k == "epoch" for k in values):
        return "eval"
    return "train"


def _same_record(a: dict[str, float], b: dict[str, float]) -> bool:
    """Two renderings of one log entry: stdout rounds floats to 4 significant digits."""
    common = [k for k in a if k in b and k != "epoch"]
    if not common:
        return False
    for k in common:
        x, y = a[k], b[k]
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=2e-3, abs_tol=1e-9):
            return False
    return True


class MetricsTracker:
    """Merges a job's metric sources into one deduplicated stream of `job_metric` payloads.

    - The JSONL file our templates write (`{"step": n, ...}` per log) is authoritative: once it exists,
      stdout dict lines are not emitted (they are the same logs, printed by the Trainer).
    - Stdout dict lines carry no step. They are held for `hold_seconds` (the JSONL line of the same log is
      written a moment later) and then emitted with steps assigned by order: 1, 2, 3… (a logging index).
    - trainer_state.json (read when the job ends) fills in only what was not emitted yet: with real steps
      when the job's stream used real steps; aligned by value with the stdout records otherwise, so a log
      seen on stdout is never emitted twice.
    A record is identified by (step, kind) where kind is train, eval or summary: a training log and an
    evaluation at the same step are two records.
    """

    def __init__(
        self, job_id: str, *, hold_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.job_id = job_id
        self.hold_seconds = hold_seconds
        self.clock = clock
        self.jsonl_active = False
        self.latest: dict[str, float] = {}
        self.ranges: dict[str, list[float]] = {}  # name -> [first, min, max] of its finite values
        self.steps: set[int] = set()
        self.last_step: int | None = None
        self.stats = dict.fromkeys(
            ("lines", "stdout_records", "jsonl_records", "trainer_state_records", "malformed", "duplicates",
             "superseded"),
            0,
        )  # fmt: skip
        self._space: str | None = None  # "real" once a source with steps emitted, "ordinal" for stdout
        self._emitted: set[tuple[int, str]] = set()
        self._stdout: list[dict[str, float]] = []  # values of emitted stdout records, for alignment
        self._held: list[tuple[float, dict[str, float]]] = []

    # -- sources ----------------------------------------------------------------------------------

    def expect_jsonl(self) -> None:
        """The job writes the JSONL file: stdout dicts are duplicates from now on."""
        if not self.jsonl_active:
            self.jsonl_active = True
            self.stats["superseded"] += len(self._held)
            self._held.clear()

    def feed_log_line(self, line: str) -> list[dict[str, Any]]:
        """One line of the job's log. Returns the payloads ready now (held stdout records come later)."""
        self.stats["lines"] += 1
        if STDOUT_MARKER in line:
            return self.feed_jsonl_line(line[line.index(STDOUT_MARKER) :])
        found, malformed = find_metric_dicts(line)
        self.stats["malformed"] += malformed
        for values in found:
            self.stats["stdout_records"] += 1
            if self.jsonl_active:
                self.stats["superseded"] += 1
            else:
                self._held.append((self.clock(), values))
        return self.flush()

    def feed_jsonl_line(self, line: str, source: str = "jsonl") -> list[dict[str, Any]]:
        """One line of the metrics JSONL file (ours or LLaMA-Factory's trainer_log.jsonl)."""
        if not line.strip():
            return []
        parsed = parse_jsonl_record(line)
        if parsed is None or parsed[0] is None:
            self.stats["malformed"] += 1
            return []
        step, values = parsed
        self.expect_jsonl()
        self.stats["jsonl_records"] += 1
        return self._emit_real(step, values, source) if values else []

    def feed_trainer_state(self, entries: list[tuple[int, dict[str, float]]]) -> list[dict[str, Any]]:
        """The log_history of trainer_state.json (see `parse_trainer_state`), usually at the end of a job."""
        self.stats["trainer_state_records"] += len(entries)
        out = self.flush(final=True)
        if self._space != "ordinal":
            for step, values in entries:
                out += self._emit_real(step, values, "trainer_state")
            return out
        # Stdout gave the steps: align entries with what stdout emitted; only a tail stdout never showed
        # (lines lost at the end) is new. A small lookahead tolerates stdout lines lost in the middle.
        cursor, matched = 0, -1
        for i, (_, values) in enumerate(entries):
            for k in range(cursor, min(cursor + 3, len(self._stdout))):
                if _same_record(values, self._stdout[k]):
                    cursor, matched = k + 1, i
                    break
        self.stats["duplicates"] += matched + 1
        for _, values in entries[matched + 1 :]:
            out.append(self._emit(self._next_ordinal(), values, "trainer_state"))
        return out

    def flush(self, final: bool = False) -> list[dict[str, Any]]:
        """Held stdout records that are due (all of them when `final`), with their order-assigned steps."""
        if not self._held:
            return []
        now = self.clock()
        out = []
        while self._held and (final or now - self._held[0][0] >= self.hold_seconds):
            _, values = self._held.pop(0)
            if self._space == "real":  # a stepped source took over: these are its duplicates
                self.stats["superseded"] += 1
                continue
            self._space = "ordinal"
            self._stdout.append(values)
            out.append(self._emit(self._next_ordinal(), values, "stdout"))
        return out

    def restore(self, payloads: Iterable[dict[str, Any]]) -> None:
        """Continue after a restart: `payloads` are the job_metric payloads already emitted (from the
        store), so nothing is emitted twice when the files are read again from the start."""
        for p in payloads:
            step, values = p.get("step"), p.get("values") or {}
            if not isinstance(step, int):
                continue
            if p.get("source") == "stdout":
                self._space = "ordinal"
                self._stdout.append(values)
            elif self._space is None:
                self._space = "real"
            self._record(step, values)

    # -- state ------------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._held)

    def summary(self) -> dict[str, Any]:
        return {
            "steps_logged": len(self.steps),
            "last_step": self.last_step,
            "latest": dict(self.latest),
            "parse": dict(self.stats),
        }

    def _next_ordinal(self) -> int:
        return (self.last_step or 0) + 1

    def _emit_real(self, step: int, values: dict[str, float], source: str) -> list[dict[str, Any]]:
        if (step, record_kind(values)) in self._emitted:
            self.stats["duplicates"] += 1
            return []
        if self._space is None:
            self._space = "real"
        return [self._emit(step, values, source)]

    def _emit(self, step: int, values: dict[str, float], source: str) -> dict[str, Any]:
        self._record(step, values)
        return {"job_id": self.job_id, "step": step, "values": values, "source": source}

    def _record(self, step: int, values: dict[str, float]) -> None:
        self._emitted.add((step, record_kind(values)))
        self.latest.update(values)
        for name, value in values.items():
            if math.isfinite(value):
                r = self.ranges.setdefault(name, [value, value, value])
                r[1], r[2] = min(r[1], value), max(r[2], value)
        self.steps.add(step)
        self.last_step = step if self.last_step is None else max(self.last_step, step)
