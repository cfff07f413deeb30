"""The watcher: one thread per job that turns its files into events.

It tails `log.txt` (batched `job_log` events, tqdm `\\r` updates collapsed), `metrics.jsonl` (and
LLaMA-Factory's `output/trainer_log.jsonl`), feeds the metrics tracker and the detectors, and when the
job ends reads `trainer_state.json`, drains what is left and emits `job_finished`. The same watcher
serves local and Hugging Face jobs (the HF runner mirrors remote logs into `log.txt`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import Kind
from ..telemetry.evals import MARKERS, emit_marked_line
from .detectors import JobMonitor
from .local import Outcome
from .metrics import STDOUT_MARKER, MetricsTracker, clean_line, parse_trainer_state

log = logging.getLogger(__name__)

MAX_LINES_PER_EVENT = 500
MAX_LINE_CHARS = 8_000  # per line in an event; the log file keeps everything
MAX_PARTIAL = 1 << 20  # a "line" of \r updates longer than this is cut at its last \r
READ_CHUNK = 4 << 20
PROGRESS_INTERVAL = 1.0


class FileTail:
    """Reads a growing file from a byte offset, returning complete lines with the offset after each."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset  # everything before this byte has been returned as lines
        self._partial = b""

    def read(self, final: bool = False) -> list[tuple[str, int]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset + len(self._partial))
                data = fh.read(READ_CHUNK)
        except FileNotFoundError:
            return []
        buf = self._partial + data
        out: list[tuple[str, int]] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            out.append((buf[start:nl].decode("utf-8", "replace"), self.offset + nl + 1))
            start = nl + 1
        rest = buf[start:]
        if len(rest) > MAX_PARTIAL and b"\r" in rest:
            cut = rest.rindex(b"\r")
            out.append((rest[:cut].decode("utf-8", "replace"), self.offset + start + cut + 1))
            start += cut + 1
            rest = rest[cut + 1 :]
        if final and rest:
            out.append((rest.decode("utf-8", "replace"), self.offset + start + len(rest)))
            start += len(rest)
            rest = b""
        self.offset += start
        self._partial = rest
        return out

    @property
    def progress(self) -> str:
        """What a terminal shows of the unfinished line (a tqdm bar being updated), cleaned."""
        return clean_line(self._partial[-4096:].decode("utf-8", "replace")) if self._partial else ""


@dataclass
class WatchState:
    """What the manager and the watcher share about one job."""

    job_id: str
    job_dir: Path
    handle: Any  # LocalHandle | HfHandle
    started_at: float
    tracker: MetricsTracker
    monitor: JobMonitor
    log_offset: int = 0
    timeout: float | None = None
    cancel_requested: bool = False
    cancel_outcome: str | None = None
    timed_out: bool = False
    outcome: Outcome | None = None
    duration_s: float | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)


class JobWatcher(threading.Thread):
    def __init__(
        self,
        state: WatchState,
        emit: Callable[[str, dict[str, Any]], Any],
        *,
        on_alert: Callable[[dict[str, Any]], Any] | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.15,
        leftover_grace: float = 5.0,
    ) -> None:
        super().__init__(name=f"intern-tui-job-{state.job_id}", daemon=True)
        self.state = state
        self.emit = emit
        self.on_alert = on_alert
        self.clock = clock
        self.poll_interval = poll_interval
        self.leftover_grace = leftover_grace
        self.stop_requested = threading.Event()
        self.log_tail = FileTail(state.job_dir / "log.txt", state.log_offset)
        self.metric_tails = [
            FileTail(state.job_dir / "metrics.jsonl"),
            FileTail(state.job_dir / "output" / "trainer_log.jsonl"),  # LLaMA-Factory
        ]
        self._progress = ""
        self._progress_at = 0.0

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop watching (the job keeps running)."""
        self.stop_requested.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        while not self.stop_requested.is_set():
            try:
                if self._step():
                    return
            except Exception:  # a watcher must never die silently while its job runs
                log.exception("job watcher %s: iteration failed", self.state.job_id)
            self.stop_requested.wait(self.poll_interval)

    # -- one iteration ----------------------------------------------------------------------------

    def _step(self) -> bool:
        """Read what is new; True once the job has finished and everything was emitted."""
        st = self.state
        self._drain()
        if getattr(st.handle, "stage", "RUNNING") == "RUNNING":
            self._deliver(st.monitor.tick(), [])
        else:  # an HF job waiting for hardware is queued, not stalled
            st.monitor.touch()
        outcome = st.handle.poll()
        if outcome is None and st.timeout and self.clock() - st.started_at > st.timeout and not st.timed_out:
            st.timed_out = True
            st.handle.cancel(10.0)
            outcome = st.handle.poll()
        if outcome is None:
            return False
        self._finish(outcome)
        return True

    def _drain(self, final: bool = False) -> None:
        st = self.state
        lines = self.log_tail.read(final=final)
        metrics: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        if lines:
            for start in range(0, len(lines), MAX_LINES_PER_EVENT):
                chunk = lines[start : start + MAX_LINES_PER_EVENT]
                shown = []
                for raw, _ in chunk:
                    text = clean_line(raw)
                    metrics += st.tracker.feed_log_line(raw)
                    if text.startswith(STDOUT_MARKER):
                        continue  # a metrics record for us (HF Jobs), not output for a human
                    if text.startswith(MARKERS) and emit_marked_line(self.emit, text, st.job_id):
                        continue  # an evaluation's score or Trackio's dashboard: an event, not output
                    shown.append(text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " …")
                    alerts += st.monitor.observe_line(text)
                self.emit(Kind.JOB_LOG, {"job_id": st.job_id, "lines": shown, "offset": chunk[-1][1]})
            self._progress = ""
        progress = self.log_tail.progress
        if progress and progress != self._progress:
            st.monitor.touch()
            now = time.monotonic()
            if now - self._progress_at >= PROGRESS_INTERVAL:
                self._progress, self._progress_at = progress, now
                self.emit(
                    Kind.JOB_LOG,
                    {"job_id": st.job_id, "lines": [], "offset": self.log_tail.offset, "progress": progress},
                )
        for tail in self.metric_tails:
            if tail.path.exists():
                st.tracker.expect_jsonl()
            for raw, _ in tail.read(final=final):
                metrics += st.tracker.feed_jsonl_line(raw)
        metrics += st.tracker.flush(final=final)
        self._deliver(alerts, metrics)

    def _deliver(self, alerts: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
        st = self.state
        for payload in metrics:
            self.emit(Kind.JOB_METRIC, payload)
            alerts += st.monitor.observe_metrics(payload["step"], payload["values"])
        for alert in alerts:
            st.alerts.append(alert)
            self.emit(Kind.ALERT, alert)
            if self.on_alert is not None:
                try:
                    self.on_alert(alert)
                except Exception:
                    log.exception("on_alert callback failed")

    def _finish(self, outcome: Outcome) -> None:
        st = self.state
        self._drain(final=True)
        state_file = find_trainer_state(st.job_dir / "output")
        if state_file is not None:
            try:
                entries = parse_trainer_state(state_file)
            except (OSError, ValueError):
                st.tracker.stats["malformed"] += 1
            else:
                self._deliver([], st.tracker.feed_trainer_state(entries))
        if outcome.alert:
            self._deliver([{"job_id": st.job_id, "step": None, "metric": None, **outcome.alert}], [])
        if st.handle.backend == "local" and st.handle.running():
            st.handle.cancel(self.leftover_grace)  # processes the script left behind would hold GPUs
        if st.cancel_requested:
            outcome = Outcome("canceled", outcome.exit_code, "canceled by request")
        elif st.timed_out:
            outcome = Outcome(
                "failed", outcome.exit_code, f"timed out after {st.timeout:.0f} s and was stopped"
            )
        st.outcome = outcome
        st.duration_s = round(max(self.clock() - st.started_at, 0.0), 3)
        self.emit(
            Kind.JOB_FINISHED,
            {
                "job_id": st.job_id,
                "status": outcome.status,
                "exit_code": outcome.exit_code,
                "error": outcome.error,
                "duration_s": st.duration_s,
            },
        )
        st.finished.set()


def find_trainer_state(output_dir: Path) -> Path | None:
    """The trainer_state.json of a run: the output dir's own, else the latest checkpoint's."""
    top = output_dir / "trainer_state.json"
    if top.is_file():
        return top
    best: tuple[int, Path] | None = None
    for path in output_dir.glob("checkpoint-*/trainer_state.json"):
        try:
            step = int(json.loads(path.read_text(encoding="utf-8")).get("global_step") or 0)
        except (OSError, ValueError, AttributeError):
            continue
        if best is None or step > best[0]:
            best = (step, path)
    return best[1] if best else None
