"""Typed events: the one record of everything that happens in a session.

The agent, the jobs and the GPU sampler emit events; the store persists them; the TUI, the mirror and
replay consume them. Kind names are a public contract (see docs/architecture.md) — extend, never rename.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    SESSION_STARTED = "session_started"
    TASK = "task"
    MODEL_OUTPUT = "model_output"
    CODE_ACTION = "code_action"
    OBSERVATION = "observation"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    PAUSED = "paused"
    RESUMED = "resumed"
    REDIRECTED = "redirected"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    FILE_WRITTEN = "file_written"
    JOB_STARTED = "job_started"
    JOB_LOG = "job_log"
    JOB_METRIC = "job_metric"
    JOB_FINISHED = "job_finished"
    GPU_SAMPLE = "gpu_sample"
    ALERT = "alert"
    COMPACTED = "compacted"
    DOOM_LOOP = "doom_loop"
    FINAL_ANSWER = "final_answer"
    SESSION_ENDED = "session_ended"
    # Extensions (contract: "keep kind names" — new kinds are allowed).
    PLAN = "plan"
    STEP_STARTED = "step_started"
    TOKEN_USAGE = "token_usage"
    SANDBOX = "sandbox"  # the worker that runs agent code started, was restarted, or was killed
    EVAL_RESULT = "eval_result"  # one model's score on one benchmark (tools/evaluate.py)
    NUDGED = (
        "nudged"  # a final answer sent back: the goal is not met and budget remains (agent/persistence.py)
    )
    TRACKING = "tracking"  # a job logs to an experiment tracker (Trackio): where its dashboard is
    MODEL_CALL = "model_call"  # a request to the LLM starts (prompt size, window)
    MODEL_DELTA = "model_delta"  # streamed tokens, batched a few times a second
    MODEL_RETRY = "model_retry"  # a visible wait before retrying (rate limit, server error, empty reply…)
    RENAMED = "renamed"  # the user gave the session a new title: {"title", "previous"}


KINDS: frozenset[str] = frozenset(k.value for k in Kind)

# Kinds that change what `sessions.status` says; the writer commits these without delay.
STATE_KINDS: frozenset[str] = frozenset(
    {
        Kind.SESSION_STARTED,
        Kind.PAUSED,
        Kind.RESUMED,
        Kind.APPROVAL_REQUESTED,
        Kind.APPROVAL_DECIDED,
        Kind.INTERRUPTED,
        Kind.FINAL_ANSWER,
        Kind.SESSION_ENDED,
        Kind.RENAMED,
    }
)

STATUSES = ("running", "paused", "waiting", "done", "failed", "interrupted", "max_steps")
ACTIVE_STATUSES = ("running", "paused", "waiting")
ENDED_STATUSES = ("done", "failed", "interrupted", "max_steps")  # max_steps: the step cap was reached


# check_circular=False: payloads are plain data built by our producers; the id() bookkeeping of the
# circularity check costs about a tenth of encoding them (a cycle still fails, with RecursionError).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, check_circular=False)


def dumps(payload: Any) -> str:
    """Compact JSON used everywhere an event payload is serialised (one shared encoder: no per-call setup)."""
    return _ENCODER.encode(payload)


@dataclass(slots=True)
class Event:
    session_id: str
    seq: int
    ts: float
    kind: str
    step: int | None
    payload: dict[str, Any] = field(default_factory=dict)
    # The redacted JSON of `payload`, computed once by the emitter and reused by the writer and mirror.
    payload_json: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "step": self.step,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_row(cls, row: tuple | Any) -> Event:
        """Build from an `events` row: (session_id, seq, ts, kind, step, payload)."""
        session_id, seq, ts, kind, step, payload_json = tuple(row)[:6]
        return cls(session_id, seq, ts, kind, step, json.loads(payload_json), payload_json)
