"""Jobs: a table of the session's training jobs and the live log tail of the selected one."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Log

from ...metric_values import HEADLINE_METRICS
from ..state import JobItem
from .header import fmt_duration

MAX_LINES_PER_FRAME = 120


class JobsPane(Vertical):
    DEFAULT_CSS = """
    JobsPane > DataTable { height: auto; max-height: 8; border: round $panel; background: $surface; }
    JobsPane > DataTable:focus { border: round $primary; }
    JobsPane > Log { height: 1fr; border: round $panel; background: $surface; }
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.job_id: str | None = None
        self.progress: str | None = None  # the selected job's live progress bar, shown under its log
        self._shown_lines = 0
        self._rows: list[str] = []
        self._cells_shown: dict[str, tuple[str, ...]] = {}
        self._columns: list = []

    def compose(self) -> ComposeResult:
        table = DataTable(id="job-table", cursor_type="row", zebra_stripes=True)
        # the columns that fit a side pane; backend and script are in the log's title
        self._columns = table.add_columns("job", "script", "status", "time", "steps", "latest")
        yield table
        yield Log(id="job-log", max_lines=5000, highlight=False)

    def on_mount(self) -> None:
        self.query_one("#job-table").border_title = "Jobs"
        self.query_one("#job-log").border_title = "Log"

    def show_jobs(self, jobs: list[JobItem], at: int | None = None) -> None:
        """Fill the table. While the same jobs are listed, only cells whose text changed are updated: a
        cleared and refilled table is laid out again, which a flood of log lines makes costly."""
        table = self.query_one("#job-table", DataTable)
        rows = [(job.id, self._cells(job, at)) for job in jobs]
        if [job_id for job_id, _ in rows] == self._rows and self._cells_shown:
            for job_id, cells in rows:
                old = self._cells_shown.get(job_id)
                for column, (value, before) in enumerate(zip(cells, old or (), strict=False)):
                    if value != before:
                        table.update_cell(job_id, self._columns[column], value)
                self._cells_shown[job_id] = cells
        else:
            table.clear()
            self._rows = []
            self._cells_shown = {}
            for job_id, cells in rows:
                table.add_row(*cells, key=job_id)
                self._rows.append(job_id)
                self._cells_shown[job_id] = cells
        if jobs and self.job_id not in self._rows:
            self.job_id = self._rows[-1]
            self._shown_lines = 0
            self.query_one("#job-log", Log).clear()
        if self.job_id in self._rows:
            table.move_cursor(row=self._rows.index(self.job_id))

    @staticmethod
    def _cells(job: JobItem, at: int | None) -> tuple[str, ...]:
        end = job.ended_ts if job.status_at(at) != "running" else time.time()
        shown = [k for k in HEADLINE_METRICS if k in job.latest][:2]
        latest = " ".join(f"{k}={job.latest[k]:.3g}" for k in shown)
        return (
            job.id.removeprefix("job-"),
            job.script if job.backend == "local" else f"{job.script} ({job.backend})",
            job.status_at(at),
            fmt_duration((end or job.started_ts) - job.started_ts),
            str(job.metric_steps),
            latest,
        )

    def show_log(self, lines: list[str], total: int, rebuild: bool = False) -> None:
        """Append the lines not shown yet (`total` counts every line the job has produced so far).

        A frame draws at most MAX_LINES_PER_FRAME new lines: at 10k lines/s nobody reads the skipped ones
        here, and they are all in the job's log file and the store."""
        log = self.query_one("#job-log", Log)
        if rebuild or total < self._shown_lines:
            log.clear()
            log.write_lines(lines[-MAX_LINES_PER_FRAME:])
        else:
            new = total - self._shown_lines
            if new > MAX_LINES_PER_FRAME:
                log.write_line(
                    f"… {new - MAX_LINES_PER_FRAME:,} lines not drawn (see job_logs / the log file)"
                )
                new = MAX_LINES_PER_FRAME
            if new > 0:
                log.write_lines(lines[-new:])
        self._shown_lines = total
        log.border_title = f"Log · {self.job_id}" if self.job_id else "Log"
        log.border_subtitle = self.progress or ""

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key and key != self.job_id:
            self.job_id = key
            self._shown_lines = 0
            self.query_one("#job-log", Log).clear()
            self.post_message(JobSelected(key))


from textual.message import Message  # noqa: E402


class JobSelected(Message):
    def __init__(self, job_id: str):
        super().__init__()
        self.job_id = job_id
