"""Typed events: the one record of everything that happens in a session.

The agent, the jobs and the GPU sampler emit events; the store persists them; the TUI, the mirror and
replay consume them. Kind names are a public contract (see docs/architecture.md) — extend, never rename.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


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


class SessionStatus(StrEnum):
    """What `sessions.status` (and `sessions list`) says of a session. A StrEnum like `Kind`: a member is
    its plain string value (in JSON, in SQL, in an f-string), so the stored data is unchanged."""

    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"  # for an approval
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by the user, or by a crash detected later (resumable)
    MAX_STEPS = "max_steps"  # the step cap was reached: no final answer


STATUSES: tuple[str, ...] = tuple(s.value for s in SessionStatus)
ACTIVE_STATUSES: tuple[str, ...] = ("running", "paused", "waiting")
ENDED_STATUSES: tuple[str, ...] = ("done", "failed", "interrupted", "max_steps")
assert set(ACTIVE_STATUSES) | set(ENDED_STATUSES) == set(STATUSES)


# -- payloads -------------------------------------------------------------------------------------------------
# The payload of each main kind, as a TypedDict: what producers put in and readers may count on. Documentation
# and type checking only: at run time a payload is a plain dict, and its stored JSON is exactly what it was
# (a contract). NotRequired fields appear only in some events; readers use .get() for them. (No postponed
# annotations in this module: TypedDict reads NotRequired from the evaluated annotations.)


class SessionStartedPayload(TypedDict):
    task: str
    model: str
    max_steps: int
    title: str
    workspace: str
    pid: int
    host: str
    approve: str  # ask | none | all
    parent_id: str | None  # a fork's parent session
    fork_step: int | None
    # how the model is reached (resume and fork reuse them); absent from sessions recorded before them
    api_base: NotRequired[str | None]
    model_settings: NotRequired[dict[str, Any]]
    context_window: NotRequired[int]
    context_window_source: NotRequired[str]
    isolation: NotRequired[str]
    isolation_detail: NotRequired[str]
    resumed: NotRequired[bool]
    previous_status: NotRequired[str]
    restored_steps: NotRequired[int]
    forked: NotRequired[bool]


class TaskPayload(TypedDict):
    task: str
    resumed: NotRequired[bool]


class ModelOutputPayload(TypedDict):
    text: str
    thought: str
    reasoning: NotRequired[str]
    reasoning_in_history: NotRequired[bool]
    finish_reason: NotRequired[str]


class CodeActionPayload(TypedDict):
    code: str
    call_id: str


class ObservationPayload(TypedDict):
    text: str
    error: str | None
    final: bool
    duration_s: float | None


class ToolCallPayload(TypedDict):
    call_id: str
    tool: str
    arguments: dict[str, Any]


class ToolResultPayload(TypedDict):
    call_id: str
    tool: str
    result: NotRequired[Any]
    error: NotRequired[str]
    error_kind: NotRequired[str]  # ToolError, ApprovalDenied, Interrupted…


class ApprovalRequestedPayload(TypedDict):
    id: str
    tool: str
    arguments: dict[str, Any]
    estimate: dict[str, Any]  # gpu_hours, usd, summary…
    policy: str
    pinned: NotRequired[dict[str, Any]]


class ApprovalDecidedPayload(TypedDict):
    id: str
    tool: str
    decision: str  # approve | always | edit | auto | deny | interrupted…
    status: str  # approved | denied | …
    reason: NotRequired[str | None]
    decided_by: NotRequired[str]
    edited: NotRequired[dict[str, Any] | None]


class JobStartedPayload(TypedDict):
    job_id: str
    backend: str  # local | hf
    script: str
    args: Any
    pid: NotRequired[int | None]
    pgid: NotRequired[int | None]
    proc_id: NotRequired[str | None]
    remote_id: NotRequired[str | None]
    url: NotRequired[str | None]
    flavor: NotRequired[str | None]
    log_path: NotRequired[str]
    name: NotRequired[str | None]
    gpus: NotRequired[Any]
    timeout: NotRequired[int | None]


class JobLogPayload(TypedDict):
    job_id: str
    lines: list[str]
    offset: NotRequired[int]
    progress: NotRequired[str]


class JobMetricPayload(TypedDict):
    job_id: str
    step: int | None
    values: dict[str, float]
    source: NotRequired[str]  # jsonl | stdout | trainer_state


class JobFinishedPayload(TypedDict):
    job_id: str
    status: str  # completed | failed | canceled | …
    exit_code: int | None
    error: str | None
    duration_s: NotRequired[float | None]


class GpuSamplePayload(TypedDict):
    """A GPU snapshot (telemetry/gpu.py documents the shape of each GPU and process)."""

    state: str  # ok | no_gpu | no_driver | error
    message: str
    driver: str | None
    cuda: str | None
    ts: float
    gpus: list[dict[str, Any]]


class AlertPayload(TypedDict):
    job_id: str | None
    kind: str  # nan, loss_spike, grad_norm, collapse, kl, stalled…
    severity: str
    message: str
    step: int | None
    metric: str | None
    delivered: NotRequired[bool]  # the agent was told (at a step boundary)


class SessionEndedPayload(TypedDict):
    status: SessionStatus | str
    steps: int
    reason: NotRequired[str]
    error: NotRequired[str]


PAYLOADS: dict[str, type] = {
    Kind.SESSION_STARTED: SessionStartedPayload,
    Kind.TASK: TaskPayload,
    Kind.MODEL_OUTPUT: ModelOutputPayload,
    Kind.CODE_ACTION: CodeActionPayload,
    Kind.OBSERVATION: ObservationPayload,
    Kind.TOOL_CALL: ToolCallPayload,
    Kind.TOOL_RESULT: ToolResultPayload,
    Kind.APPROVAL_REQUESTED: ApprovalRequestedPayload,
    Kind.APPROVAL_DECIDED: ApprovalDecidedPayload,
    Kind.JOB_STARTED: JobStartedPayload,
    Kind.JOB_LOG: JobLogPayload,
    Kind.JOB_METRIC: JobMetricPayload,
    Kind.JOB_FINISHED: JobFinishedPayload,
    Kind.GPU_SAMPLE: GpuSamplePayload,
    Kind.ALERT: AlertPayload,
    Kind.SESSION_ENDED: SessionEndedPayload,
}


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
    def from_row(cls, row: tuple | Any) -> "Event":
        """Build from an `events` row: (session_id, seq, ts, kind, step, payload)."""
        session_id, seq, ts, kind, step, payload_json = tuple(row)[:6]
        return cls(session_id, seq, ts, kind, step, json.loads(payload_json), payload_json)
