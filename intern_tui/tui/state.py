"""The session reducer: events in, a queryable model of the session out. No Textual in here.

The live dashboard and replay run this same `SessionModel.apply` over the same events, so a replayed
session cannot drift from what the user saw. Every fact is tagged with the `seq` of the event that made
it true, so "the state at event N" is a binary search, not a re-run: that is what makes seeking in a
long replay instant. Live sessions bound what they keep (stream items, log lines). Replay keeps
everything, compactly: the bulk kinds (job log chunks, GPU samples) are kept as seqs and their payloads
read back from the store when a pane shows them (`history.py`), metrics live in the plots' own series.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

from ..display import describe_retry, display_model
from ..events import (
    Event,
    JobFinishedPayload,
    Kind,
    SessionEndedPayload,
    SessionStartedPayload,
    SessionStatus,
)
from ..store.queries import format_step_stats
from .history import HeldPayloads, MetricsTimeline

ACTIVE = ("running", "pausing", "paused", "waiting", "interrupting")


@dataclass
class StreamItem:
    seq: int
    step: int | None
    kind: (
        str  # task reasoning thought cutoff retry code observation error approval alert redirect control job
    )
    # file final doom compacted plan
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LiveCall:
    """The model call in flight: what has streamed so far (live view only; the reply itself becomes
    stream items when it arrives)."""

    started_ts: float
    attempt: int = 1
    prompt_tokens: int = 0
    text: str = ""
    reasoning_chars: int = 0
    tokens: int = 0
    retry: dict[str, Any] | None = None  # the wait in progress: model_retry payload + "ts"


@dataclass
class ApprovalItem:
    id: str
    tool: str
    arguments: dict[str, Any]
    estimate: dict[str, Any]
    step: int | None
    requested_seq: int
    decided_seq: int | None = None
    status: str = "pending"
    decision: str | None = None
    reason: str | None = None
    decided_by: str | None = None
    edited: dict[str, Any] | None = None
    pinned: dict[str, Any] | None = None  # the code snapshot the approval runs: sha256, files, diff

    def status_at(self, at: int | None) -> str:
        if self.decided_seq is None or (at is not None and self.decided_seq > at):
            return "pending"
        return self.status


@dataclass
class FileVersion:
    version: int
    seq: int
    step: int | None
    ts: float
    content: str | None
    diff: str | None
    added: int
    removed: int
    bytes: int


@dataclass
class JobItem:
    id: str
    backend: str
    script: str
    started_seq: int
    started_ts: float
    url: str | None = None
    status: str = "running"
    finished_seq: int | None = None
    ended_ts: float | None = None
    exit_code: int | None = None
    error: str | None = None
    log: deque = field(default_factory=deque)  # live: (seq, line), bounded
    chunk_seqs: array = field(default_factory=lambda: array("q"))  # replay: seqs of its job_log events
    log_total: int = 0  # lines ever received (the deque may have dropped the oldest)
    progress: str | None = None  # the live progress bar line, if the job draws one
    latest: dict[str, float] = field(default_factory=dict)
    metric_steps: int = 0

    def status_at(self, at: int | None) -> str:
        if at is not None and (self.finished_seq is None or self.finished_seq > at):
            return "running" if self.started_seq <= at else "pending"
        return self.status


class _History:
    """A value that changes over time: (seq, value) pairs, queried at any seq."""

    def __init__(self, initial: Any = None):
        self.seqs: list[int] = [0]
        self.values: list[Any] = [initial]

    def set(self, seq: int, value: Any) -> None:
        if self.values[-1] == value:
            return
        if self.seqs[-1] == seq:
            self.values[-1] = value
        else:
            self.seqs.append(seq)
            self.values.append(value)

    def at(self, seq: int | None) -> Any:
        if seq is None:
            return self.values[-1]
        return self.values[bisect.bisect_right(self.seqs, seq) - 1]

    @property
    def current(self) -> Any:
        return self.values[-1]


class SessionModel:
    def __init__(
        self,
        *,
        live: bool = True,
        max_stream: int = 10_000,
        max_log_lines: int = 2_000,
        max_gpu: int = 900,
        payloads=None,
    ):
        self.live = live
        # Replay folds events in a loader thread while the UI reads: both hold this while they touch it.
        self.lock = threading.RLock()
        # Replay: where the payloads of job_log and gpu_sample events are read back from (a StoredPayloads
        # over the store; by default they are held in memory).
        self.payloads = payloads if payloads is not None or live else HeldPayloads()
        self.session_id: str | None = None
        self.task = ""
        self.model = ""
        self.parent_id: str | None = None
        self.fork_step: int | None = None
        self.isolation: str | None = None  # how agent code is fenced: "bubblewrap" | "process"
        self.started_ts: float | None = None
        self.last_ts: float | None = None
        self.last_seq = 0
        self.final_answer: Any = None
        self.error: str | None = None
        self.status = _History("starting")
        self.step = _History(0)
        self.max_steps = 0
        self.title: str | None = None  # the user's title (renamed); else the header derives one from the task
        self.tokens = _History((0, 0, 0.0))  # (in, out, usd)
        self.cost_unknown = _History(False)  # some reply had no known price: the total is a lower bound
        self.tokens_estimated = _History(False)  # some reply had no usage: its tokens were estimated
        self.context = _History((0, 0, ""))  # (prompt tokens of the last call, window, where it came from)
        self.live_call: LiveCall | None = None
        self.ended_ts = _History(None)
        self.stream: list[StreamItem] = []
        self.evicted = 0  # stream items dropped from memory (live); still in the store
        self.max_stream = max_stream if live else None
        self.max_log_lines = max_log_lines if live else None
        self.approvals: dict[str, ApprovalItem] = {}
        self.files: dict[str, list[FileVersion]] = {}
        self.jobs: dict[str, JobItem] = {}
        # Live: (seq, job_id, step, values) records. Replay: every point in the plots' series, with its seq.
        self.metrics: list[tuple[int, str, int, dict[str, float]]] = []
        self._metric_seqs: list[int] = []
        self.metric_timeline = None if live else MetricsTimeline()
        self.alerts: list[tuple[int, dict[str, Any]]] = []
        # Live: the last max_gpu (seq, snapshot). Replay: the seq of every sample (payloads read on demand).
        self.gpu: deque[tuple[int, dict[str, Any]]] = deque(maxlen=max_gpu)
        self._gpu_seqs: deque[int] | array = deque(maxlen=max_gpu) if live else array("q")
        self.plan = _History([])
        self.evals: list[tuple[int, dict[str, Any]]] = []  # (seq, eval_result payload)
        self.tracking: dict[str, dict[str, Any]] = {}  # job id -> where its Trackio dashboard is
        self.step_seqs: dict[int, int] = {}  # step -> seq of its first event (for "seek to step")
        self._step_costs: dict[
            int, dict[str, Any]
        ] = {}  # step -> its tool durations and tokens, until it ends
        self.event_times = array("d")  # replay only: ts of each event, index seq - 1 (for playback)

    # -- the reducer ----------------------------------------------------------------------------------

    def apply(self, e: Event) -> set[str]:
        """Fold one event in; returns the areas that changed (header, stream, approvals, files, jobs,
        logs, metrics, gpu, plan) so a UI can redraw only those."""
        if e.session_id == self.session_id and e.seq <= self.last_seq:
            return set()  # already folded in (history loaded from the store overlaps the live feed)
        self.last_seq = e.seq
        self.last_ts = e.ts
        if not self.live:
            self.event_times.append(e.ts)
        if e.step is not None:
            if e.step not in self.step_seqs:
                self.step_seqs[e.step] = e.seq
        handler = _HANDLERS.get(e.kind)
        changed = handler(self, e) if handler else _NOTHING
        return changed if e.kind in _QUIET_KINDS else changed | _HEADER

    def apply_all(self, events) -> set[str]:
        changed: set[str] = set()
        with self.lock:
            for e in events:
                area = self.apply(e)
                if not area <= changed:
                    changed |= area
        return changed

    def _add(self, e: Event, kind: str, text: str, **meta: Any) -> set[str]:
        self.stream.append(StreamItem(e.seq, e.step, kind, text, meta))
        if self.max_stream and len(self.stream) > self.max_stream:
            drop = len(self.stream) - self.max_stream
            del self.stream[:drop]
            self.evicted += drop
        return {"stream"}

    # -- queries (at=None: now; at=seq: as of that event) -------------------------------------------------

    def stream_at(self, at: int | None = None) -> list[StreamItem]:
        return self.stream if at is None else self.stream[: self.stream_index_at(at)]

    def stream_index_at(self, at: int | None) -> int:
        """How many stream items exist as of `at` (cheap: the items are in seq order)."""
        if at is None:
            return len(self.stream)
        lo, hi = 0, len(self.stream)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.stream[mid].seq <= at:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def pending_approvals(self, at: int | None = None) -> list[ApprovalItem]:
        return [
            a
            for a in self.approvals.values()
            if (at is None or a.requested_seq <= at) and a.status_at(at) == "pending"
        ]

    def files_at(self, at: int | None = None) -> dict[str, list[FileVersion]]:
        out = {}
        for path, versions in self.files.items():
            kept = versions if at is None else [v for v in versions if v.seq <= at]
            if kept:
                out[path] = kept
        return out

    def jobs_at(self, at: int | None = None) -> list[JobItem]:
        return [j for j in self.jobs.values() if at is None or j.started_seq <= at]

    def job_log_at(self, job_id: str, at: int | None = None, tail: int = 200) -> list[str]:
        """The last `tail` log lines of a job as of `at`."""
        job = self.jobs.get(job_id)
        if job is None:
            return []
        if self.live:
            lines = job.log if at is None else [x for x in job.log if x[0] <= at]
            return [line for _, line in list(lines)[-tail:]]
        seqs = job.chunk_seqs
        end = len(seqs) if at is None else bisect.bisect_right(seqs, at)
        out: list[str] = []
        start = end
        while start > 0 and len(out) < tail:  # newest chunks first, a few at a time, until enough lines
            lo = max(0, start - 32)
            wanted = seqs[lo:start]
            got = self.payloads.get_many(wanted)
            lines = [line for seq in wanted for line in _lines(got.get(seq) or {})]
            out[:0] = lines
            start = lo
        return out[-tail:]

    def metrics_at(self, at: int | None = None) -> list[tuple[int, str, int, dict[str, float]]]:
        """Live only: the metric records (replay draws from `metric_timeline.as_of(at)`)."""
        if at is None:
            return self.metrics
        return self.metrics[: bisect.bisect_right(self._metric_seqs, at)]

    def evals_at(self, at: int | None = None) -> list[dict[str, Any]]:
        """`eval_result` payloads as of `at` (the Evals pane builds its table from them)."""
        return [p for s, p in self.evals if at is None or s <= at]

    def alerts_at(self, at: int | None = None) -> list[dict[str, Any]]:
        return [a for s, a in self.alerts if at is None or s <= at]

    def gpu_at(
        self, at: int | None = None, history: int = 600
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The latest GPU snapshot as of `at`, and up to `history` before it (for sparklines)."""
        if not self.live:
            seqs = self._gpu_seqs
            end = len(seqs) if at is None else bisect.bisect_right(seqs, at)
            wanted = seqs[max(0, end - history) : end]
            got = self.payloads.get_many(wanted)
            chosen = [got[s] for s in wanted if s in got]
            return (chosen[-1] if chosen else None), chosen
        samples = self.gpu
        end = len(samples) if at is None else bisect.bisect_right(self._gpu_seqs, at)
        chosen = [samples[i][1] for i in range(max(0, end - history), end)]
        return (chosen[-1] if chosen else None), chosen

    def elapsed(self, at: int | None = None, now: float | None = None) -> float:
        if self.started_ts is None:
            return 0.0
        end = self.ended_ts.at(at)
        if end is None:
            if at is not None and 0 < at <= len(self.event_times):
                end = self.event_times[at - 1]  # replay: the clock as of the selected event
            elif now is not None and at is None and self.status.current in ACTIVE:
                end = now
            else:
                end = self.last_ts
        return max(0.0, (end or self.started_ts) - self.started_ts)


# -- handlers -----------------------------------------------------------------------------------------------

_QUIET_KINDS = frozenset({"job_log", "gpu_sample", "job_metric", "model_delta"})  # never change the header


def _session_started(m: SessionModel, e: Event) -> set[str]:
    p = cast(SessionStartedPayload, e.payload)
    m.session_id = e.session_id
    m.task = p.get("task") or m.task
    m.title = p.get("title") or m.title
    m.model = p.get("model") or m.model
    m.max_steps = p.get("max_steps") or m.max_steps
    m.parent_id = p.get("parent_id")
    m.fork_step = p.get("fork_step")
    m.isolation = p.get("isolation") or m.isolation
    if m.started_ts is None:
        m.started_ts = e.ts
    m.status.set(e.seq, SessionStatus.RUNNING)
    m.ended_ts.set(e.seq, None)
    if p.get("context_window"):
        m.context.set(
            e.seq, (m.context.current[0], p["context_window"], p.get("context_window_source") or "")
        )
    what = "resumed" if p.get("resumed") else ("forked" if p.get("parent_id") else "started")
    model = display_model(p.get("model"))
    return m._add(
        e, "control", f"session {what} · {model}", **({"resumed": True} if p.get("resumed") else {})
    )


def _task(m: SessionModel, e: Event) -> set[str]:
    if e.payload.get("resumed"):  # the instruction a resumed or forked agent got: a note, not the task
        return m._add(e, "control", "continuing: " + " ".join(e.payload.get("task", "").split())[:160])
    m.task = e.payload.get("task", m.task)
    return m._add(e, "task", e.payload.get("task", ""))


def _step_started(m: SessionModel, e: Event) -> set[str]:
    m.step.set(e.seq, e.payload.get("step", e.step or 0))
    m.max_steps = e.payload.get("max_steps") or m.max_steps
    return {"header"}


def _model_call(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.live_call = LiveCall(e.ts, p.get("attempt", 1), p.get("prompt_tokens") or 0) if m.live else None
    _, window, source = m.context.current
    m.context.set(e.seq, (p.get("prompt_tokens") or 0, p.get("window") or window, source))
    return {"live"}


def _model_delta(m: SessionModel, e: Event) -> set[str]:
    call = m.live_call
    if call is None:
        return set()
    p = e.payload
    call.text += p.get("text") or ""
    call.reasoning_chars += len(p.get("reasoning") or "")
    call.tokens = p.get("tokens") or call.tokens
    call.retry = None
    return {"live"}


def _model_retry(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    if m.live_call is not None:
        m.live_call.retry = {**p, "ts": e.ts}
    return m._add(e, "retry", describe_retry(p), retry_kind=p.get("kind")) | {"live"}


def _model_output(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.live_call = None
    changed = {"live"}
    if p.get("reasoning"):
        changed |= m._add(e, "reasoning", p["reasoning"])
    changed |= m._add(e, "thought", p.get("thought") or p.get("text", ""))
    if p.get("finish_reason") == "length":
        changed |= m._add(
            e, "cutoff", "the reply was cut off at the output token limit (finish_reason=length)"
        )
    return changed


def _code_action(m: SessionModel, e: Event) -> set[str]:
    return m._add(e, "code", e.payload.get("code", ""))


def _observation(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    row = m._step_costs.pop(e.step, None) if e.step is not None else None
    stats = {}
    if row is not None or p.get("duration_s") is not None:  # the step's time, tools and tokens, one line
        row = row or _step_row(e.step)
        row["duration_s"] = p.get("duration_s")
        stats = {"stats": format_step_stats(row)}
    if p.get("error"):
        return m._add(e, "error", p["error"], **stats)
    text = (p.get("text") or "").replace("Execution logs:\n", "", 1)
    return m._add(e, "observation", text.strip(), final=bool(p.get("final")), **stats)


def _step_row(step: int | None) -> dict[str, Any]:
    return {"step": step, "duration_s": None, "tool_durations": [], "tokens": {"input": 0, "output": 0},
            "cost": 0.0, "cost_estimated": False}  # fmt: skip


def _step_cost(m: SessionModel, step: int | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return m._step_costs.setdefault(step, _step_row(step))


def _tool_result(m: SessionModel, e: Event) -> set[str]:
    row = _step_cost(m, e.step)  # the result itself is shown through the observation
    if row is not None:
        row["tool_durations"].append(
            {"tool": e.payload.get("tool"), "duration_s": e.payload.get("duration_s")}
        )
    return set()


def _token_usage(m: SessionModel, e: Event) -> set[str]:
    i, o, c = m.tokens.current
    p = e.payload
    row = _step_cost(m, e.step)
    if row is not None:
        row["tokens"]["input"] += int(p.get("input_tokens") or 0)
        row["tokens"]["output"] += int(p.get("output_tokens") or 0)
        if p.get("cost_usd") is None:
            row["cost"] = None
        elif row["cost"] is not None:
            row["cost"] += float(p["cost_usd"])
        row["cost_estimated"] = row["cost_estimated"] or bool(p.get("estimated"))
    if p.get("cost_usd") is None:
        m.cost_unknown.set(e.seq, True)
    if p.get("estimated"):
        m.tokens_estimated.set(e.seq, True)
    elif p.get("input_tokens"):  # the server's own count of the prompt: the truest context meter
        _, window, source = m.context.current
        m.context.set(e.seq, (int(p["input_tokens"]), window, source))
    m.tokens.set(
        e.seq,
        (
            i + int(p.get("input_tokens") or 0),
            o + int(p.get("output_tokens") or 0),
            c + float(p.get("cost_usd") or 0.0),
        ),
    )
    return {"header"}


def _approval_requested(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.approvals[p["id"]] = ApprovalItem(
        p["id"], p.get("tool", "?"), p.get("arguments") or {}, p.get("estimate") or {}, e.step, e.seq,
        pinned=p.get("pinned"),
    )  # fmt: skip
    if m.pending_approvals():
        m.status.set(e.seq, "waiting")
    return m._add(e, "approval", f"approval requested: {p.get('tool')}", id=p["id"], phase="requested") | {
        "approvals"
    }


def _approval_decided(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    item = m.approvals.get(p.get("id"))
    if item is not None:
        item.decided_seq = e.seq
        item.status = p.get("status") or ("approved" if p.get("decision") != "deny" else "denied")
        item.decision, item.reason, item.decided_by = p.get("decision"), p.get("reason"), p.get("decided_by")
        item.edited = p.get("edited")
    if not m.pending_approvals() and m.status.current == "waiting":
        m.status.set(e.seq, "running")
    verdict = p.get("status", "decided")
    by = p.get("decided_by", "user")
    if p.get("replayed"):
        by = f"replayed: {p.get('recorded_by') or 'user'} decided"
    reason = f" — {p['reason']}" if p.get("reason") else ""
    text = f"{p.get('tool')} {verdict} ({by}){reason}"
    if p.get("decision") == "edit":  # every edited value in full: the confirmation is what runs
        edited = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False, sort_keys=True)}"
            for k, v in (p.get("edited") or {}).items()
        )
        text = f"{p.get('tool')} approved with edits ({by}){reason}: {edited}"
    return m._add(
        e,
        "approval",
        text,
        id=p.get("id"),
        phase="decided",
        status=p.get("status"),
    ) | {"approvals"}


def _renamed(m: SessionModel, e: Event) -> set[str]:
    m.title = e.payload.get("title") or m.title
    return m._add(e, "control", f"renamed: {m.title}") | {"header"}


def _paused(m: SessionModel, e: Event) -> set[str]:
    phase = e.payload.get("phase")
    m.status.set(e.seq, "paused" if phase == "paused" else "pausing")
    return m._add(
        e, "control", "paused" if phase == "paused" else "pause requested — stopping after this step"
    )


def _resumed(m: SessionModel, e: Event) -> set[str]:
    m.status.set(e.seq, "running")
    return m._add(e, "control", "resumed" if e.payload.get("phase") != "cancelled" else "pause cancelled")


def _redirected(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    label = {
        "queued": "instruction queued",
        "delivered": "instruction delivered",
        "undelivered": "instruction not delivered (the session ended first)",
    }.get(p.get("phase"), "instruction")
    return m._add(e, "redirect", f"{label}: {p.get('text', '')}", phase=p.get("phase"))


def _interrupted(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    if p.get("phase") != "requested":
        m.status.set(e.seq, SessionStatus.INTERRUPTED)
        m.ended_ts.set(e.seq, e.ts)
        m.live_call = None
    else:
        m.status.set(e.seq, "interrupting")
    return m._add(e, "control", f"interrupt: {p.get('reason', '')}")


def _error(m: SessionModel, e: Event) -> set[str]:
    if e.payload.get("where") == "session":
        m.error = e.payload.get("message")
        return m._add(e, "error", f"session error: {m.error}")
    return set()  # step errors are shown through their observation


def _file_written(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.files.setdefault(p["path"], []).append(
        FileVersion(
            p.get("version", 1),
            e.seq,
            e.step,
            e.ts,
            p.get("content"),
            p.get("diff"),
            p.get("added", 0),
            p.get("removed", 0),
            p.get("bytes", 0),
        )
    )
    return m._add(
        e,
        "file",
        f"wrote {p['path']} v{p.get('version')} (+{p.get('added', 0)} −{p.get('removed', 0)})",
        path=p["path"],
        version=p.get("version"),
    ) | {"files"}


def _job_started(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    maxlen = m.max_log_lines
    m.jobs[p["job_id"]] = JobItem(
        p["job_id"],
        p.get("backend", "local"),
        p.get("script", ""),
        e.seq,
        e.ts,
        url=p.get("url"),
        log=deque(maxlen=maxlen),
    )
    return m._add(
        e,
        "job",
        f"job {p['job_id']} started ({p.get('backend', 'local')}): {p.get('script')}",
        job_id=p["job_id"],
    ) | {"jobs"}


_JOB_ID = re.compile(r'"job_id":"([^"]+)"')


def _job_log(m: SessionModel, e: Event) -> set[str]:
    if not m.live:  # replay: remember where the chunk is; its lines are read when a log pane shows them
        if e.payload is not None:
            job_id = e.payload.get("job_id")
        else:
            found = _JOB_ID.search(e.payload_json)
            job_id = found.group(1) if found else None
        job = m.jobs.get(job_id)
        if job is not None:
            job.chunk_seqs.append(e.seq)
            if isinstance(m.payloads, HeldPayloads):
                m.payloads.hold(e.seq, e.payload, e.payload_json)
        return _LOGS
    job = m.jobs.get(e.payload.get("job_id"))
    if job is None:
        return _NOTHING
    if e.payload.get("progress") is not None:  # a progress bar still being redrawn (tqdm)
        job.progress = e.payload["progress"]
    if "elided_lines" in e.payload:  # history older than the kept tail: counted, not read (fold_history)
        job.log_total += e.payload["elided_lines"]
        return _LOGS
    lines = _lines(e.payload)
    job.log.extend((e.seq, line) for line in lines)
    job.log_total += len(lines)
    return _LOGS


def _lines(payload: dict[str, Any]) -> list[str]:
    lines = payload.get("lines")
    return [payload.get("line", "")] if lines is None else lines


def _job_metric(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    values = {k: v for k, v in (p.get("values") or {}).items() if isinstance(v, int | float)}
    if m.live:
        m.metrics.append((e.seq, p.get("job_id", "?"), int(p.get("step") or 0), values))
        m._metric_seqs.append(e.seq)
    else:
        m.metric_timeline.add(e.seq, p.get("job_id", "?"), int(p.get("step") or 0), values)
    job = m.jobs.get(p.get("job_id"))
    if job is not None:
        job.latest.update(values)
        job.metric_steps += 1
    return _METRICS_JOBS


def _job_finished(m: SessionModel, e: Event) -> set[str]:
    p = cast(JobFinishedPayload, e.payload)
    job = m.jobs.get(p.get("job_id"))
    if job is not None:
        job.status, job.exit_code, job.error = (
            p.get("status", "completed"),
            p.get("exit_code"),
            p.get("error"),
        )
        job.finished_seq, job.ended_ts = e.seq, e.ts
    code = "" if p.get("exit_code") is None else f" (exit {p.get('exit_code')})"
    return m._add(
        e,
        "job",
        f"job {p.get('job_id')} {p.get('status')}{code}",
        job_id=p.get("job_id"),
        status=p.get("status"),
    ) | {"jobs"}


def _gpu_sample(m: SessionModel, e: Event) -> set[str]:
    m._gpu_seqs.append(e.seq)
    if m.live:
        m.gpu.append((e.seq, e.payload))
    elif isinstance(m.payloads, HeldPayloads):
        m.payloads.hold(e.seq, e.payload, e.payload_json)
    return _GPU


def _alert(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    if p.get("delivered"):
        return set()
    m.alerts.append((e.seq, p))
    if m.metric_timeline is not None:
        m.metric_timeline.add_alert(e.seq, p)
    return m._add(
        e,
        "alert",
        p.get("message", ""),
        severity=p.get("severity"),
        job_id=p.get("job_id"),
        alert=p.get("kind"),
    ) | {"metrics"}


def _eval_result(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.evals.append((e.seq, p))
    score = p.get("score")
    shown = "—" if score is None else f"{score:.3g}"
    base = " (base)" if p.get("base") else ""
    text = f"eval {p.get('benchmark')}: {p.get('label') or p.get('model')}{base} {p.get('metric')} {shown}"
    return m._add(e, "eval", text + (f" on {p['n']} items" if p.get("n") else ""), job_id=p.get("job_id")) | {
        "evals"
    }


def _nudged(m: SessionModel, e: Event) -> set[str]:
    return m._add(
        e, "doom", f"final answer sent back: {e.payload.get('reason')} — the agent was told to keep going"
    )


def _tracking(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    m.tracking[p.get("job_id") or "?"] = p
    where = f" (logs in {p['dir']})" if p.get("dir") else ""
    return m._add(
        e, "job", f"job {p.get('job_id')} logs to Trackio: {p.get('command')}{where}", job_id=p.get("job_id")
    )


def _doom_loop(m: SessionModel, e: Event) -> set[str]:
    return m._add(
        e, "doom", f"loop detected: {e.payload.get('reason')} — the agent was told to change approach"
    )


def _compacted(m: SessionModel, e: Event) -> set[str]:
    p = e.payload
    _, window, source = m.context.current
    m.context.set(
        e.seq, (p.get("tokens_after") or 0, p.get("window") or window, p.get("window_source") or source)
    )
    return m._add(
        e,
        "compacted",
        f"context compacted: {p.get('folded_steps')} steps folded "
        f"({p.get('tokens_before')} → {p.get('tokens_after')} tokens)",
    )


def _plan(m: SessionModel, e: Event) -> set[str]:
    items = e.payload.get("items") or []
    m.plan.set(e.seq, items)
    done = sum(1 for i in items if i.get("status") == "done")
    return m._add(e, "plan", f"plan: {done}/{len(items)} done", items=items) | {"plan"}


def _final_answer(m: SessionModel, e: Event) -> set[str]:
    m.final_answer = e.payload.get("answer")
    return m._add(e, "final", str(m.final_answer))


def _session_ended(m: SessionModel, e: Event) -> set[str]:
    p = cast(SessionEndedPayload, e.payload)
    m.live_call = None
    m.status.set(e.seq, p.get("status", SessionStatus.DONE))
    m.ended_ts.set(e.seq, e.ts)
    if p.get("error"):
        m.error = p["error"]
    detail = p.get("error") or (p.get("reason") if p.get("status") == "max_steps" else None)
    return m._add(e, "control", f"session {p.get('status', 'done')}" + (f": {detail}" if detail else ""))


# Shared, never mutated: the reducer returns these instead of building a new set per event.
_NOTHING: frozenset[str] = frozenset()
_HEADER = frozenset({"header"})
_LOGS = frozenset({"logs"})
_GPU = frozenset({"gpu"})
_METRICS_JOBS = frozenset({"metrics", "jobs"})

_HANDLERS = {
    Kind.SESSION_STARTED: _session_started,
    Kind.TASK: _task,
    Kind.STEP_STARTED: _step_started,
    Kind.MODEL_CALL: _model_call,
    Kind.MODEL_DELTA: _model_delta,
    Kind.MODEL_RETRY: _model_retry,
    Kind.MODEL_OUTPUT: _model_output,
    Kind.CODE_ACTION: _code_action,
    Kind.OBSERVATION: _observation,
    Kind.TOOL_RESULT: _tool_result,
    Kind.TOKEN_USAGE: _token_usage,
    Kind.APPROVAL_REQUESTED: _approval_requested,
    Kind.RENAMED: _renamed,
    Kind.APPROVAL_DECIDED: _approval_decided,
    Kind.PAUSED: _paused,
    Kind.RESUMED: _resumed,
    Kind.REDIRECTED: _redirected,
    Kind.INTERRUPTED: _interrupted,
    Kind.ERROR: _error,
    Kind.FILE_WRITTEN: _file_written,
    Kind.JOB_STARTED: _job_started,
    Kind.JOB_LOG: _job_log,
    Kind.JOB_METRIC: _job_metric,
    Kind.JOB_FINISHED: _job_finished,
    Kind.GPU_SAMPLE: _gpu_sample,
    Kind.ALERT: _alert,
    Kind.EVAL_RESULT: _eval_result,
    Kind.TRACKING: _tracking,
    Kind.NUDGED: _nudged,
    Kind.DOOM_LOOP: _doom_loop,
    Kind.COMPACTED: _compacted,
    Kind.PLAN: _plan,
    Kind.FINAL_ANSWER: _final_answer,
    Kind.SESSION_ENDED: _session_ended,
}
