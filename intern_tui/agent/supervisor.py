"""The Supervisor: runs the smolagents loop in a worker thread and is the one interface the UI and the
CLI use to steer it — pause, resume, redirect, interrupt, decide approvals.

Steering happens at step boundaries, the points where `agent.run(stream=True)` has yielded a finished
ActionStep and the next model call has not started: memory is consistent there, so an instruction
appended as a TaskStep lands exactly before the next model call, and a pause never cuts a step in half.
Jobs keep running while the agent is paused; they belong to the JobManager, not to the loop.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from smolagents.agents import ActionOutput
from smolagents.memory import ActionStep, FinalAnswerStep, TaskStep, ToolCall
from smolagents.models import Model
from smolagents.utils import AgentError, AgentGenerationError

from ..events import Kind
from .guards import DoomLoopDetector, TokenEstimator, compact, correction

log = logging.getLogger(__name__)


class ObservedModel(Model):
    """Wraps the real model: every output becomes a `model_output` event (and token usage) the moment it
    arrives, before its code runs."""

    def __init__(self, inner: Model, supervisor: Supervisor):
        super().__init__(model_id=inner.model_id)
        self.inner = inner
        self.supervisor = supervisor

    def generate(
        self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs
    ):
        message = self.inner.generate(
            messages,
            stop_sequences=stop_sequences,
            response_format=response_format,
            tools_to_call_from=tools_to_call_from,
            **kwargs,
        )
        self.supervisor._on_model_output(message)
        return message


class Supervisor:
    def __init__(
        self,
        agent,
        emitter,
        gate,
        approvals,
        *,
        task: str,
        max_steps: int,
        first_step: int = 1,
        resume_task: str | None = None,
        context_window: int = 128_000,
        compact_at: float = 0.75,
        pause_on_alert: bool = False,
        flush=None,
        on_end=None,
    ):
        self.agent = agent
        self.emitter = emitter
        self.gate = gate
        self.approvals = approvals
        self.task = task
        self.max_steps = max_steps
        self.step = first_step - 1  # steps already done (resume continues the numbering)
        self.resume_task = resume_task
        self.context_window = context_window
        self.compact_at = compact_at
        self.pause_on_alert = pause_on_alert
        self.flush = flush or (lambda: None)
        self.on_end = on_end
        self.doom = DoomLoopDetector()
        self.estimate_tokens = TokenEstimator()
        self.status = "starting"  # running | pausing | paused | waiting | done | failed | interrupted
        self.final_answer: Any = None
        self.error: str | None = None
        self._cond = threading.Condition()
        self._pause_requested = False
        self._interrupt_requested = False
        self._redirects: deque[str] = deque()
        self._alerts: deque[dict[str, Any]] = deque()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._end_lock = threading.Lock()
        self._ended = False
        agent.model = ObservedModel(agent.model, self)

    # -- the steering interface ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"agent-{self.emitter.session_id}", daemon=True
        )
        self.status = "running"
        self._thread.start()

    def pause(self) -> None:
        with self._cond:
            if self._pause_requested or self._done.is_set():
                return
            self._pause_requested = True
            if self.status == "running":
                self.status = "pausing"
            # emitted under the lock: the boundary's "paused" can never overtake this "requested"
            self.emitter.emit(Kind.PAUSED, {"phase": "requested"})

    def resume(self) -> None:
        with self._cond:
            if not self._pause_requested:
                return
            was_paused = self.status == "paused"
            self._pause_requested = False
            self._cond.notify_all()
            if not was_paused:  # asked to resume before the boundary was reached: the pause never happened
                self.status = "running"
                self.emitter.emit(Kind.RESUMED, {"phase": "cancelled"})

    def redirect(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        with self._cond:
            if self._done.is_set():
                return
            self._redirects.append(text)
            self._cond.notify_all()
            self.emitter.emit(Kind.REDIRECTED, {"text": text, "phase": "queued"})

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        with self._cond:
            if self._interrupt_requested or self._done.is_set():
                return
            self._interrupt_requested = True
            self._cond.notify_all()
        self.gate.interrupted.set()
        self.agent.interrupt()
        stop_code = getattr(self.agent.python_executor, "interrupt", None)
        if stop_code is not None:  # the code running now in the worker, if any
            stop_code(reason)
        self.approvals.cancel_all(reason)
        self.emitter.emit(Kind.INTERRUPTED, {"reason": reason, "phase": "requested"})

    def decide(
        self, request_id: str, decision: str, reason: str | None = None, edited: dict[str, Any] | None = None
    ) -> bool:
        return self.approvals.decide(request_id, decision, reason, edited)

    def notify_alert(self, alert: dict[str, Any]) -> None:
        """Jobs' failure detectors call this: the agent reads the alert at its next step boundary."""
        with self._cond:
            self._alerts.append(alert)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Stop one of the session's jobs (the user's decision: no approval needed to stop spending)."""
        jobs = self.gate.ctx.jobs
        if jobs is None:
            raise ValueError("this session has no jobs")
        result = jobs.cancel(job_id)
        self.redirect(f"The user canceled job {job_id} from the dashboard.")  # the agent hears it next step
        return result

    def job_pids(self) -> dict[int, str]:
        """{pid: job id} of the session's running local jobs (the GPU pane's attribution)."""
        jobs = self.gate.ctx.jobs
        return jobs.pid_map() if jobs is not None else {}

    @property
    def session_id(self) -> str:
        return self.emitter.session_id

    def describe(self) -> dict[str, Any]:
        """Where the session stands, for clients: status, step and the requests waiting for a person."""
        return {
            "session_id": self.session_id,
            "status": self.status,
            "step": self.step,
            "max_steps": self.max_steps,
            "pending": [
                {"id": r.id, "tool": r.tool, "view": r.view, "step": r.step} for r in self.approvals.pending()
            ],
        }

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    # -- the loop -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        status, error = "done", None
        try:
            if self.resume_task is None:
                self.emitter.emit(Kind.TASK, {"task": self.task})
            else:  # recorded too: a later resume rebuilds memory with this instruction in place
                self.emitter.emit(Kind.TASK, {"task": self.resume_task, "resumed": True})
            self._begin_step()
            if self.resume_task is not None:
                stream = self.agent.run(
                    self.resume_task, stream=True, reset=False, max_steps=self._remaining()
                )
            else:
                stream = self.agent.run(self.task, stream=True, max_steps=self._remaining())
            for item in stream:
                if isinstance(item, ToolCall):
                    self.emitter.emit(Kind.CODE_ACTION, {"code": item.arguments, "call_id": item.id})
                elif isinstance(item, ActionStep):
                    self._on_action_step(item)
                    if not item.is_final_answer:
                        self._boundary()
                        if not self._interrupt_requested:  # else smolagents stops at the next iteration
                            self._begin_step()
                elif isinstance(item, FinalAnswerStep):
                    self.final_answer = item.output
                    self.emitter.emit(Kind.FINAL_ANSWER, {"answer": _plain(item.output)})
                elif isinstance(item, ActionOutput):
                    pass
        except AgentGenerationError as exc:
            status, error = "failed", _model_error(exc)
        except AgentError as exc:
            if self._interrupt_requested:
                status = "interrupted"
            else:
                status, error = "failed", str(exc)
        except Exception as exc:  # never let the worker die silently: the session must end with a reason
            log.exception("agent loop crashed")
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        if self._interrupt_requested and status == "done" and self.final_answer is None:
            status = "interrupted"
        self._finish(status, error)

    def _remaining(self) -> int:
        return max(self.max_steps - self.step + 1, 1)

    def _begin_step(self) -> None:
        self.step += 1
        self.emitter.step = self.step
        self.emitter.emit(Kind.STEP_STARTED, {"step": self.step, "max_steps": self.max_steps})

    def _on_model_output(self, message) -> None:
        text = message.content if isinstance(message.content, str) else str(message.content or "")
        thought = text.split("<code>")[0].split("```")[0].replace("Thought:", "", 1).strip()
        self.emitter.emit(Kind.MODEL_OUTPUT, {"text": text, "thought": thought})
        usage = message.token_usage
        if usage is not None:
            self.emitter.emit(
                Kind.TOKEN_USAGE,
                {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cost_usd": _cost(self.agent.model.model_id, usage),
                },
            )

    def _on_action_step(self, step: ActionStep) -> None:
        error = str(step.error) if step.error else None
        self.emitter.emit(
            Kind.OBSERVATION,
            {
                "text": step.observations or "",
                "error": error,
                "final": bool(step.is_final_answer),
                "duration_s": round(step.timing.duration or 0.0, 3) if step.timing else None,
            },
        )
        if error:
            self.emitter.emit(Kind.ERROR, {"message": error, "where": "step"})
        loop = self.doom.observe(self.step, step.code_action, error or step.observations, self.gate.calls)
        if loop:
            instruction = correction(loop)
            self.agent.memory.steps.append(TaskStep(task=instruction))
            self.emitter.emit(Kind.DOOM_LOOP, {"reason": loop, "instruction": instruction})

    def _boundary(self) -> None:
        """Between two steps: deliver alerts and redirects, compact if needed, honour a pause."""
        with self._cond:
            alerts = list(self._alerts)
            self._alerts.clear()
        for alert in alerts:
            self.agent.memory.steps.append(
                TaskStep(task=f"Alert from the job monitor: {alert.get('message')}")
            )
            self.emitter.emit(Kind.ALERT, {**alert, "delivered": True})
            if self.pause_on_alert and not self._interrupt_requested:
                self.pause()
        self._deliver_redirects()
        self._maybe_compact()
        with self._cond:
            if not self._pause_requested or self._interrupt_requested:
                return
            self.status = "paused"
            self.emitter.emit(Kind.PAUSED, {"phase": "paused"})
        self.flush()
        with self._cond:
            while self._pause_requested and not self._interrupt_requested:
                self._cond.wait()
            self.status = "running"
            if not self._interrupt_requested:
                self.emitter.emit(Kind.RESUMED, {"phase": "resumed"})
        if not self._interrupt_requested:
            self._deliver_redirects()  # instructions typed while paused go before the next step

    def _deliver_redirects(self) -> None:
        with self._cond:
            texts = list(self._redirects)
            self._redirects.clear()
        for text in texts:
            self.agent.memory.steps.append(
                TaskStep(task=f"New instruction from the user (takes priority): {text}")
            )
            self.emitter.emit(Kind.REDIRECTED, {"text": text, "phase": "delivered"})

    def _maybe_compact(self) -> None:
        before = self.estimate_tokens(self.agent)
        if before < self.context_window * self.compact_at:
            return
        result = compact(self.agent)
        if result is None:
            return
        folded, summary, note = result
        self.emitter.emit(
            Kind.COMPACTED,
            {
                "folded_steps": folded,
                "tokens_before": before,
                "tokens_after": self.estimate_tokens(self.agent),
                "window": self.context_window,
                "summary": summary,
                "note": note,
            },
        )

    def abandon(self, reason: str) -> bool:
        """End the session now although the worker is still inside a step (the app is quitting and the
        step won't finish in time): record why, so the log never says "running" for a dead session."""
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
        self.status = "interrupted"
        self.emitter.emit(Kind.INTERRUPTED, {"reason": reason, "phase": "abandoned"})
        self.emitter.emit(Kind.SESSION_ENDED, {"status": "interrupted", "steps": self.step, "reason": reason})
        self.flush()
        self._done.set()
        return True

    def _finish(self, status: str, error: str | None) -> None:
        with self._end_lock:
            if self._ended:  # abandoned while the last step was still running
                return
            self._ended = True
        with self._cond:
            left, self._redirects = list(self._redirects), deque()
        for text in left:  # typed during the last step: say so rather than drop it silently
            self.emitter.emit(
                Kind.REDIRECTED, {"text": text, "phase": "undelivered", "reason": f"session {status}"}
            )
        self.status = status
        self.error = error
        payload: dict[str, Any] = {"status": status, "steps": self.step}
        if error:
            payload["error"] = error
            self.emitter.emit(Kind.ERROR, {"message": error, "where": "session"})
        self.emitter.emit(Kind.SESSION_ENDED, payload)
        self.flush()
        if self.on_end:  # before wait() returns: whoever waited may delete or resume the session next
            try:
                self.on_end(self)
            except Exception:
                log.exception("on_end hook failed")
        self._done.set()


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)


def _cost(model_id: str | None, usage) -> float:
    if not model_id or model_id.startswith("script:"):
        return 0.0
    try:
        import litellm

        prompt, completion = litellm.cost_per_token(
            model=model_id, prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens
        )
        return float(prompt + completion)
    except Exception:
        return 0.0


def _model_error(exc: Exception) -> str:
    """One line the user can act on, from litellm's often multi-line errors."""
    text = " ".join(str(exc).replace("Error in generating model output:", "").split())
    lowered = text.lower()
    if "authentication" in lowered or "api key" in lowered or "401" in lowered:
        return f"the model provider rejected the API key: {text[:300]}"
    if "connection" in lowered or "connect" in lowered:
        return f"cannot reach the model endpoint: {text[:300]}"
    if "not found" in lowered or "does not exist" in lowered:
        return f"unknown model: {text[:300]}"
    return f"model call failed: {text[:400]}"
