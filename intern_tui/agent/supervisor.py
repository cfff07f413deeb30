"""The Supervisor: runs the smolagents loop in a worker thread and is the one interface the UI and the
CLI use to steer it — pause, resume, redirect, interrupt, decide approvals.

Steering happens at step boundaries, the points where `agent.run(stream=True)` has yielded a finished
ActionStep and the next model call has not started: memory is consistent there, so an instruction
appended as a TaskStep lands exactly before the next model call, and a pause never cuts a step in half.
Jobs keep running while the agent is paused; they belong to the JobManager, not to the loop.

Two things cannot wait for a boundary: an interrupt abandons the model call (or retry wait) in flight at
once (`cancelled`, which `calls.ResilientModel` watches), and the step cap is held here, exactly, so a
capped run ends as `max_steps` instead of smolagents' extra forced-answer call. The model path calls back
into `on_model_output` and `on_context_overflow`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from smolagents.agents import ActionOutput
from smolagents.memory import ActionStep, FinalAnswerStep, TaskStep, ToolCall
from smolagents.utils import AgentError, AgentGenerationError

from ..events import (
    Kind,
    ModelOutputPayload,
    ObservationPayload,
    SessionEndedPayload,
    SessionStatus,
)
from .calls import CallCancelled, ModelCallError, ReplyInfo, ResilientModel, interruptible_sleep
from .compaction import ContextKeeper, TokenEstimator, drop_tool_call_echo
from .guards import DoomLoopDetector, correction
from .models import DEFAULT_CONTEXT_WINDOW, ModelSettings
from .prompts import CUT_OFF_NOTE, with_reasoning

log = logging.getLogger(__name__)


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
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        context_source: str = "default",
        compact_at: float = 0.75,
        settings: ModelSettings | None = None,
        sleep=None,
        pause_on_alert: bool = False,
        flush=None,
        on_end=None,
    ):
        self.agent = agent
        self.emitter = emitter
        self.gate = gate
        self.approvals = approvals
        self.task = task
        self.title: str | None = None  # the latest rename in this process (the store has the rest)
        self.max_steps = max_steps
        self.step = first_step - 1  # the step in progress (resume continues the numbering)
        self.completed = first_step - 1  # steps that finished (a failed model call is not one)
        self.resume_task = resume_task
        self.settings = settings or ModelSettings()
        reserve = self.settings.params.get("max_tokens") or self.settings.params.get("max_completion_tokens")
        self.context = ContextKeeper(
            context_window, context_source, compact_at=compact_at, reserve=int(reserve) if reserve else None
        )
        self.pause_on_alert = pause_on_alert
        self.flush = flush or (lambda: None)
        self.on_end = on_end
        self.doom = DoomLoopDetector()
        self.status = (
            "starting"  # running | pausing | paused | waiting | done | failed | interrupted | max_steps
        )
        self.final_answer: Any = None
        self.error: str | None = None
        self.cancelled = threading.Event()  # set by interrupt(): the model call in flight gives up at once
        self.sleep = sleep or interruptible_sleep(self.cancelled)  # retry waits (tests inject a fake clock)
        self._cond = threading.Condition()
        self._pause_requested = False
        self._interrupt_requested = False
        self._redirects: deque[str] = deque()
        self._alerts: deque[dict[str, Any]] = deque()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._end_lock = threading.Lock()
        self._ended = False
        self._last_reply = ReplyInfo()
        agent.model = ResilientModel(agent.model, self, self.settings)

    # what ResilientModel reads from its hooks
    @property
    def context_window(self) -> int:
        return self.context.window

    @property
    def estimate_tokens(self) -> TokenEstimator:
        return self.context.estimate

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
        self.cancelled.set()  # a model call or a retry wait in flight is abandoned now, not at its end
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

    def rename(self, title: str) -> str:
        """Give the session a new title (a `renamed` event; the sessions table follows it)."""
        from ..store.titles import clean_title

        title = clean_title(title)
        self.emitter.emit(Kind.RENAMED, {"title": title, "previous": self.title})
        self.title = title
        return title

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

    def record_gpu_sample(self, snapshot: dict[str, Any]) -> None:
        """The GPU sampler's snapshots become `gpu_sample` events of this session while it runs."""
        if self.running:
            self.emitter.emit(Kind.GPU_SAMPLE, snapshot)

    @property
    def session_id(self) -> str:
        return self.emitter.session_id

    @property
    def last_seq(self) -> int:
        """The seq of the newest event this session has emitted (a history load reads up to it)."""
        return self.emitter.last_seq

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
        stream = None
        try:
            if self.resume_task is None:
                self.emitter.emit(Kind.TASK, {"task": self.task})
            else:  # recorded too: a later resume rebuilds memory with this instruction in place
                self.emitter.emit(Kind.TASK, {"task": self.resume_task, "resumed": True})
                if self.context.over_threshold(self.agent):  # a resumed transcript may not fit any more
                    self.context.compact(self.agent, self.emitter, "resume")
            self._begin_step()
            # We hold the step cap ourselves (smolagents would spend one more call on a forced answer).
            limit = self._remaining() + 1
            if self.resume_task is not None:
                stream = self.agent.run(self.resume_task, stream=True, reset=False, max_steps=limit)
            else:
                stream = self.agent.run(self.task, stream=True, max_steps=limit)
            for item in stream:
                if isinstance(item, ToolCall):
                    self.emitter.emit(Kind.CODE_ACTION, {"code": item.arguments, "call_id": item.id})
                elif isinstance(item, ActionStep):
                    if item.model_output is None and item.error is None and not item.is_final_answer:
                        continue  # the model call failed: no step happened (its error follows)
                    self._on_action_step(item)
                    if item.is_final_answer:
                        continue
                    if self.completed >= self.max_steps:
                        status = "max_steps"
                        break
                    self._boundary()
                    if not self._interrupt_requested:  # else smolagents stops at the next iteration
                        self._begin_step()
                elif isinstance(item, FinalAnswerStep):
                    self._on_final_answer(item)
                elif isinstance(item, ActionOutput):
                    pass
        except AgentGenerationError as exc:
            if self._interrupt_requested or isinstance(exc.__cause__, CallCancelled):
                status = "interrupted"
            else:
                status, error = "failed", _model_error(exc)
        except AgentError as exc:
            if self._interrupt_requested:
                status = "interrupted"
            else:
                status, error = "failed", str(exc)
        except Exception as exc:  # never let the worker die silently: the session must end with a reason
            log.exception("agent loop crashed")
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if stream is not None:
                stream.close()
        if self._interrupt_requested and status in ("done", "max_steps") and self.final_answer is None:
            status = "interrupted"
        self._finish(status, error)

    def _remaining(self) -> int:
        return max(self.max_steps - self.step + 1, 1)

    def _begin_step(self) -> None:
        self.step += 1
        self.emitter.step = self.step
        self.emitter.emit(Kind.STEP_STARTED, {"step": self.step, "max_steps": self.max_steps})

    def _on_final_answer(self, item: FinalAnswerStep) -> None:
        """The agent gave its final answer (the one place a final answer is accepted)."""
        self.final_answer = item.output
        self.emitter.emit(Kind.FINAL_ANSWER, {"answer": _plain(item.output)})

    # -- what ResilientModel calls back ---------------------------------------------------------------------

    def on_model_output(self, message, info: ReplyInfo, estimated: bool, cost: float | None) -> None:
        """A reply arrived (and will be executed): record it before its code runs."""
        self._last_reply = info
        text = message.content if isinstance(message.content, str) else str(message.content or "")
        thought = text.split("<code>")[0].split("```")[0].replace("Thought:", "", 1).strip()
        payload: ModelOutputPayload = {"text": text, "thought": thought}
        if info.reasoning:
            payload["reasoning"] = info.reasoning
            if self.settings.keep_reasoning:
                payload["reasoning_in_history"] = True
        if info.finish_reason and info.finish_reason not in ("stop", "eos", "end_turn"):
            payload["finish_reason"] = info.finish_reason
        self.emitter.emit(Kind.MODEL_OUTPUT, payload)
        self.on_usage(message.token_usage, estimated, cost)

    def on_usage(self, usage, estimated: bool, cost: float | None) -> None:
        self.emitter.emit(
            Kind.TOKEN_USAGE,
            {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": cost,  # None: the price is unknown (shown as such, never as $0.00)
                **({"estimated": True} if estimated else {}),
            },
        )

    def on_context_overflow(self, exc, pressure: int) -> list | None:
        """The server refused the prompt as too long: compact (harder at each refusal of the same call)
        and hand back the new prompt."""
        self.context.learned_limit(exc.limit)
        if self.context.compact(self.agent, self.emitter, "context_exceeded", pressure=pressure) is None:
            return None
        return self.agent.write_memory_to_messages()

    def _on_action_step(self, step: ActionStep) -> None:
        self.completed = self.step
        drop_tool_call_echo(step)
        reply, self._last_reply = self._last_reply, ReplyInfo()
        if reply.reasoning and self.settings.keep_reasoning and isinstance(step.model_output, str):
            step.model_output = with_reasoning(step.model_output, reply.reasoning)
        error = str(step.error) if step.error else None
        observation: ObservationPayload = {
            "text": step.observations or "",
            "error": error,
            "final": bool(step.is_final_answer),
            "duration_s": round(step.timing.duration or 0.0, 3) if step.timing else None,
        }
        self.emitter.emit(Kind.OBSERVATION, observation)
        if error:
            self.emitter.emit(Kind.ERROR, {"message": error, "where": "step"})
        if reply.finish_reason == "length" and not step.is_final_answer:
            self.agent.memory.steps.append(TaskStep(task=CUT_OFF_NOTE))  # memory.py adds it the same way
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
            # A billing refusal (HF 402, quota) pauses whatever the setting: a human decides what to spend.
            if (self.pause_on_alert or alert.get("pause")) and not self._interrupt_requested:
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
        if self.context.over_threshold(self.agent):
            self.context.compact(self.agent, self.emitter, "threshold")

    def abandon(self, reason: str) -> bool:
        """End the session now although the worker is still inside a step (the app is quitting and the
        step won't finish in time): record why, so the log never says "running" for a dead session."""
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
        self.status = SessionStatus.INTERRUPTED
        self.emitter.emit(Kind.INTERRUPTED, {"reason": reason, "phase": "abandoned"})
        ended: SessionEndedPayload = {
            "status": SessionStatus.INTERRUPTED,
            "steps": self.completed,
            "reason": reason,
        }
        self.emitter.emit(Kind.SESSION_ENDED, ended)
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
        payload: SessionEndedPayload = {"status": status, "steps": self.completed}
        if status == SessionStatus.MAX_STEPS:
            payload["reason"] = f"reached the step cap ({self.completed}/{self.max_steps})"
        if error:
            payload["error"] = error
            self.emitter.emit(Kind.ERROR, {"message": error, "where": "session"})
        self.emitter.emit(Kind.SESSION_ENDED, payload)
        self.flush()
        try:  # closed (its lock released) before wait() returns: a resume right after never finds it held
            if self.on_end:
                self.on_end(self)
        except Exception:
            log.exception("on_end hook failed")
        finally:
            self._done.set()


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)


def _model_error(exc: Exception) -> str:
    """One line the user can act on, from litellm's often multi-line errors."""
    if isinstance(exc.__cause__, ModelCallError):
        return exc.__cause__.message
    text = " ".join(str(exc).replace("Error in generating model output:", "").split())
    lowered = text.lower()
    if "authentication" in lowered or "api key" in lowered or "401" in lowered:
        return f"the model provider rejected the API key: {text[:300]}"
    if "connection" in lowered or "connect" in lowered:
        return f"cannot reach the model endpoint: {text[:300]}"
    if "not found" in lowered or "does not exist" in lowered:
        return f"unknown model: {text[:300]}"
    return f"model call failed: {text[:400]}"
