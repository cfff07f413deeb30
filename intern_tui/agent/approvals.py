"""The approval queue: every sensitive call waits here until a human (or a stated policy) decides.

Requests and decisions are events (`approval_requested`, `approval_decided`) and therefore rows; a call
never runs without one. Policies:
- `ask`: wait for `decide()` from the UI or the terminal, with no timeout unless one is configured;
- `none`: deny at once (headless default) with a reason saying how to allow it;
- `all`: approve at once, within the budget.
"Always allow" approves later calls of the same tool for this session, also within the budget. The budget
(GPU-hours and/or dollars, from the calls' estimates) caps what is ever approved without a human.

Re-executing a recorded session (a `script:` policy exported with its decisions) replays each recorded
decision before any policy applies: the same approvals, edits and denials, each recorded with
`decided_by: "replay"`, `replayed: true` and who decided originally (`recorded_by`). A replayed approval
still has to fit the budget, and a flagged request is only approved again if a person approved it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..display import cost_facts, describe, ordered_arguments  # noqa: F401  (the approval's views)
from ..events import ApprovalDecidedPayload, Kind

DECISIONS = ("approve", "always", "deny", "edit")


@dataclass
class Budget:
    gpu_hours: float | None = None
    usd: float | None = None
    spent_gpu_hours: float = 0.0
    spent_usd: float = 0.0

    def allows(self, estimate: dict[str, Any]) -> tuple[bool, str]:
        """Can this be approved without a human? An estimate that doesn't know what it costs can't be, once
        a budget is set (an unknown price is not a zero price)."""
        if estimate.get("error") and (self.gpu_hours is not None or self.usd is not None):
            return False, f"the cost could not be estimated ({estimate['error']}), and a budget is set"
        for key, limit in (("gpu_hours", self.gpu_hours), ("usd", self.usd)):
            if limit is not None and key in estimate and estimate[key] is None:
                return False, f"the cost is unknown ({estimate.get('summary') or key}), and a budget is set"
        gh, usd = float(estimate.get("gpu_hours") or 0), float(estimate.get("usd") or 0)
        if self.gpu_hours is not None and self.spent_gpu_hours + gh > self.gpu_hours + 1e-9:
            return (
                False,
                f"over the GPU-hour budget ({self.spent_gpu_hours:.2f} + {gh:.2f} > {self.gpu_hours:g})",
            )
        if self.usd is not None and self.spent_usd + usd > self.usd + 1e-9:
            return False, f"over the dollar budget (${self.spent_usd:.2f} + ${usd:.2f} > ${self.usd:g})"
        return True, ""

    def recharge(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """An approved request was edited: count what the edited version costs instead."""
        for key, attr in (("gpu_hours", "spent_gpu_hours"), ("usd", "spent_usd")):
            setattr(self, attr, getattr(self, attr) - float(old.get(key) or 0) + float(new.get(key) or 0))

    def charge(self, estimate: dict[str, Any]) -> None:
        self.spent_gpu_hours += float(estimate.get("gpu_hours") or 0)
        self.spent_usd += float(estimate.get("usd") or 0)


@dataclass
class Request:
    id: str
    tool: str
    arguments: dict[str, Any]
    estimate: dict[str, Any]
    step: int | None
    pinned: dict[str, Any] | None = None  # the snapshot that will run (digest, files, diff)
    view: dict[str, Any] = field(default_factory=dict)  # the approval_requested payload as recorded
    done: threading.Event = field(default_factory=threading.Event)
    decision: Decision | None = None


@dataclass
class Decision:
    status: str  # approved | denied | interrupted
    decision: str  # approve | always | edit | deny | auto
    reason: str | None = None
    edited: dict[str, Any] | None = None
    decided_by: str = "user"
    recorded_by: str | None = None  # a replayed decision: who made it in the recorded session

    @property
    def approved(self) -> bool:
        return self.status == "approved"


# Shown first: the arguments that change what runs, where, with which credentials.
class ApprovalQueue:
    def __init__(
        self,
        emitter,
        policy: str = "ask",
        budget: Budget | None = None,
        on_request: Callable[[Request], None] | None = None,
        flush: Callable[[], Any] | None = None,
        timeout: float | None = None,
        deny_tools: dict[str, str] | None = None,
        recorded: Callable[[str, dict[str, Any]], dict[str, Any] | None] | None = None,
    ):
        if policy not in ("ask", "none", "all"):
            raise ValueError(f"unknown approval policy {policy!r}")
        self.emitter = emitter
        self.policy = policy
        self.budget = budget or Budget()
        self.always: set[str] = set()
        self.on_request = on_request  # e.g. the terminal prompt in headless `--approve ask`
        self.flush = flush
        self.timeout = timeout
        self.deny_tools = dict(
            deny_tools or {}
        )  # tool -> reason: refused without asking (e.g. the demo's uploads)
        # (tool, arguments) -> the recorded decision for this request, or None (a re-executed session)
        self.recorded = recorded
        self._pending: dict[str, Request] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- the agent side ---------------------------------------------------------------------------

    def request(
        self,
        tool: str,
        arguments: dict[str, Any],
        estimate: dict[str, Any] | None = None,
        pinned: dict[str, Any] | None = None,
    ) -> Decision:
        """Record a request and block until it is decided. Returns the decision (never raises).
        `pinned`: what the approval pins to run (the snapshot's digest and diff, tools/pinning.py)."""
        req = Request(
            "ap-" + secrets.token_hex(4), tool, arguments, estimate or {}, self.emitter.step, pinned
        )
        with self._lock:
            self._pending[req.id] = req
            closed = self._closed
        req.view = self.emitter.emit(
            Kind.APPROVAL_REQUESTED,
            {
                "id": req.id,
                "tool": tool,
                "arguments": arguments,
                "estimate": req.estimate,
                "policy": self.policy,
                **({"pinned": pinned} if pinned else {}),
            },
        ).payload  # what the person is shown: the recorded, redacted event, never the live objects
        if closed:
            self._finish(req, Decision("interrupted", "deny", "the run is stopping", decided_by="interrupt"))
        else:
            self._replay(req)
            if not req.done.is_set():
                self._auto_decide(req)
        if not req.done.is_set() and self.flush:
            self.flush()  # the request is on disk before we wait on a human
        if not req.done.is_set() and self.on_request:
            self.on_request(req)
        if not req.done.wait(self.timeout):
            self._finish(
                req,
                Decision("denied", "deny", f"no decision within {self.timeout:g} s", decided_by="timeout"),
            )
        assert req.decision is not None
        return req.decision

    def _replay(self, req: Request) -> None:
        """Decide as the recorded session did, when it recorded a decision for this request."""
        if self.recorded is None:
            return
        rec = self.recorded(req.tool, req.view.get("arguments"))
        if not rec or rec.get("decision") not in DECISIONS + ("auto",):
            return
        by = str(rec.get("decided_by") or "user")
        if rec.get("status") == "approved":
            if req.estimate.get("flags") and by not in ("user", "replay"):
                return  # a guard fired: only a person's approval is worth replaying
            ok, _ = self.budget.allows(req.estimate)
            if not ok:
                return  # the budget decides (or asks) as usual
            if rec["decision"] == "always":
                self.always.add(req.tool)
            edited = rec.get("edited") if rec["decision"] == "edit" else None
            decision = Decision("approved", rec["decision"], rec.get("reason"), edited, "replay", by)
        else:
            decision = Decision("denied", "deny", rec.get("reason"), None, "replay", by)
        self._finish(req, decision)

    def _auto_decide(self, req: Request) -> None:
        if req.tool in self.deny_tools:
            self._finish(req, Decision("denied", "deny", self.deny_tools[req.tool], decided_by="policy"))
            return
        if req.estimate.get("flags"):  # a research guard fired (contamination, base model): only a human
            if self.policy != "ask":  # may approve it, even when the tool is "always allowed"
                reason = "flagged, so not approved automatically: " + "; ".join(req.estimate["flags"])
                self._finish(req, Decision("denied", "deny", reason, decided_by="guard"))
            return
        ok, why = self.budget.allows(req.estimate)
        if req.tool in self.always:
            if ok:
                self._finish(
                    req, Decision("approved", "auto", f"always allowed: {req.tool}", decided_by="always")
                )
            elif self.policy != "ask":
                self._finish(req, Decision("denied", "deny", why, decided_by="budget"))
            return  # over budget with a human present: ask them
        if self.policy == "none":
            self._finish(
                req,
                Decision(
                    "denied",
                    "deny",
                    "headless run with --approve none: sensitive actions are denied (re-run with --approve ask or all)",
                    decided_by="policy",
                ),
            )
        elif self.policy == "all":
            if ok:
                self._finish(req, Decision("approved", "auto", "--approve all", decided_by="policy"))
            else:
                self._finish(req, Decision("denied", "deny", why, decided_by="budget"))

    # -- the human side ---------------------------------------------------------------------------

    def pending(self) -> list[Request]:
        with self._lock:
            return list(self._pending.values())

    def decide(
        self, request_id: str, decision: str, reason: str | None = None, edited: dict[str, Any] | None = None
    ) -> bool:
        """Decide a pending request from any thread. Returns False if it was no longer pending."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        with self._lock:
            req = self._pending.get(request_id)
        if req is None or req.done.is_set():
            return False
        if decision == "deny":
            result = Decision("denied", "deny", reason or "denied by the user")
        else:
            if decision == "always":
                self.always.add(req.tool)
            result = Decision("approved", decision, reason, edited if decision == "edit" else None)
        return self._finish(req, result)

    def cancel_all(self, reason: str = "the run was interrupted") -> None:
        """Wake every waiting request with an 'interrupted' decision; later requests are refused too."""
        with self._lock:
            self._closed = True
            waiting = list(self._pending.values())
        for req in waiting:
            self._finish(req, Decision("interrupted", "deny", reason, decided_by="interrupt"))

    def _finish(self, req: Request, decision: Decision) -> bool:
        with self._lock:
            if req.done.is_set():
                return False
            req.decision = decision
            self._pending.pop(req.id, None)
        if decision.approved:
            self.budget.charge(req.estimate)
        payload: ApprovalDecidedPayload = {
            "id": req.id,
            "tool": req.tool,
            "decision": decision.decision,
            "status": decision.status if decision.status != "interrupted" else "denied",
            "reason": decision.reason,
            "decided_by": decision.decided_by,
        }
        if decision.edited is not None:
            payload["edited"] = decision.edited
        if decision.recorded_by is not None:
            payload.update(replayed=True, recorded_by=decision.recorded_by)
        self.emitter.emit(Kind.APPROVAL_DECIDED, payload, step=req.step)
        req.done.set()
        return True
