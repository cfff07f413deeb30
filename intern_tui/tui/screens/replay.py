"""Replay: the dashboard over a stored session, read-only, with a timeline.

The events are folded through the same `SessionModel` the live view uses; every pane is then drawn "as
of" the selected event, so seeking is a lookup, not a recomputation. Keys: ←/→ previous/next step,
shift+←/→ one event, home/end, space play/pause, +/- speed, `:` seek to a step or event (#N).

Loading never runs on the UI thread: a worker reads and folds the events in batches (holding the model's
lock only while it folds one), the screen appears after the first batch, and the timeline shows how far
the rest has come.
"""

from __future__ import annotations

import bisect
import gc
import threading
import time
from collections.abc import Iterator

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from ...store.queries import last_seq, light_event_batches
from ..history import StoredPayloads
from ..state import SessionModel
from ..widgets.header import fmt_duration
from ..widgets.stream import AgentStream
from .dashboard import DashboardScreen
from .modals import MODAL_CSS

SPEEDS = (1, 2, 4, 8, 16, 64, 256)
STREAM_WINDOW = 30  # stream items drawn after a jump (each costs a Markdown/Syntax render)
MAX_GAP_S = 1.0  # idle stretches longer than this play in one second


FIRST_BATCH = 2_000  # events folded before the first frame
LOAD_BATCH = 10_000  # events read per query after that
FOLD_CHUNK = 500  # events folded per hold of the model's lock (a few ms)
PROGRESS_EVERY_S = 1.0  # each progress redraw competes with the loader for the interpreter
FIRST_PAINT_WAIT_S = 2.0  # the loader waits at most this long for the first frame before going on


def event_batches(conn, session_id: str, first: int = FIRST_BATCH, size: int = LOAD_BATCH) -> Iterator[list]:
    """A session's stored events in seq order, in batches; the bulk kinds without their payload (read
    back by seq when a pane shows them)."""
    return light_event_batches(conn, session_id, first, size)


def load_session_model(store, session_id: str) -> SessionModel:
    """Fold every stored event of a session into a replay model (keeps everything, unlike live)."""
    model = SessionModel(live=False, payloads=StoredPayloads(store.connect, session_id))
    conn = store.connect()
    try:
        for batch in event_batches(conn, session_id):
            model.apply_all(batch)
    finally:
        conn.close()
    return model


def load_in_background(app, store, session_id: str, show, progress, done) -> None:
    """Run in a worker thread: fold the session into a model; `show(model, total)` (on the UI thread,
    after the first batch) returns the screen; `progress` and `done` are posted to it."""
    conn = store.connect()
    try:
        total = last_seq(conn, session_id)  # seqs have no gap: the last one is the count
        if not total:
            app.call_from_thread(app.notify, "that session has no events", severity="warning")
            return
        model = SessionModel(live=False, payloads=StoredPayloads(store.connect, session_id))
        screen = None
        reported = time.monotonic()
        worker = get_current_worker()
        for batch in event_batches(conn, session_id):
            if worker.is_cancelled:  # the replay was closed while loading
                return
            # Folded under the model's lock (the UI never sees half an event), in short pieces with the
            # lock and the interpreter let go in between, so the UI thread is never kept waiting long.
            for i in range(0, len(batch), FOLD_CHUNK):
                model.apply_all(batch[i : i + FOLD_CHUNK])
                time.sleep(0)
            if screen is None:
                screen = app.call_from_thread(show, model, total)
                # Let the first frame paint before folding on: the loader and the UI share one interpreter.
                screen.painted.wait(FIRST_PAINT_WAIT_S)
            elif time.monotonic() - reported > PROGRESS_EVERY_S:
                reported = time.monotonic()
                screen.post_message(progress(model.last_seq))
            # Long-lived objects out of the collector's sight: otherwise full collections over a growing
            # heap make the load quadratic, and one lands in the middle of a seek.
            gc.freeze()
    finally:
        conn.close()
    if screen is not None:
        screen.post_message(done())


class ReplayLoading(Message):
    """The loader folded events up to `seq` (coalesced: only the latest matters)."""

    def __init__(self, seq: int):
        super().__init__()
        self.seq = seq

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReplayLoading)


class ReplayLoaded(Message):
    """The loader is done: every event of the session is in the model."""


class Timeline(Static):
    DEFAULT_CSS = "Timeline { height: 1; background: $boost; padding: 0 1; }"

    _shown: tuple | None = None

    def on_resize(self) -> None:
        if self._shown is not None:  # the bar's length follows the width
            model, *rest = self._shown
            with model.lock:
                self.show(model, *rest)

    def show(
        self, model: SessionModel, at: int, playing: bool, speed: int, glyphs, loading: int | None = None
    ) -> None:
        self._shown = (model, at, playing, speed, glyphs, loading)
        if loading:
            self.update(
                Text.assemble(
                    (" REPLAY ", "bold reverse"),
                    f"  loading… {model.last_seq:,} of {loading:,} events",
                    ("  (keys work on what is loaded)", "dim"),
                )
            )
            return
        total = max(model.last_seq, 1)
        ts = model.started_ts or 0
        t = model.elapsed(at)
        state = f"{glyphs.run} playing ×{speed}" if playing else f"{glyphs.pause} paused ×{speed}"
        facts = (
            f"  event {at}/{model.last_seq}"
            f"  step {model.step.at(at)}/{model.step.current}"
            + (f"  t+{fmt_duration(t)}" if ts else "")
            + f"  {state}"
        )
        hint = "  ←/→ step · space play · : seek"
        room = (self.size.width or 100) - 2 - len(" REPLAY  ") - len(facts)  # 2: the padding
        if room - len(hint) >= 10:
            room -= len(hint)
        else:
            hint = ""
        width = max(10, room)
        filled = round(at / total * width)
        bar = glyphs.bar_full * filled + glyphs.bar_empty * (width - filled)
        self.update(Text.assemble((" REPLAY ", "bold reverse"), " ", bar, facts, (hint, "dim")))


class SeekModal(ModalScreen[str | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="seek.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Seek to a step (e.g. 12) or an event (e.g. #1500); enter to go", classes="title")
            yield Input(placeholder="12 or #1500", id="seek-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class ReplayScreen(DashboardScreen):
    """Timeline keys take priority over the focused pane: in a replay, moving in time is the main thing."""

    BINDINGS = [
        Binding("left", "step(-1)", "prev", tooltip="previous step", priority=True, id="replay.prev_step"),
        Binding("right", "step(1)", "next", tooltip="next step", priority=True, id="replay.next_step"),
        Binding("shift+left", "event(-1)", "prev event", show=False, priority=True, id="replay.prev_event"),
        Binding("shift+right", "event(1)", "next event", show=False, priority=True, id="replay.next_event"),
        Binding("home", "seek_to(1)", "start", show=False, priority=True, id="replay.start"),
        Binding("end", "seek_to(-1)", "end", show=False, priority=True, id="replay.end"),
        Binding("space", "play", "play", tooltip="play / pause", priority=True, id="replay.play"),
        Binding("plus,equals_sign", "speed(1)", "faster", show=False, priority=True, id="replay.faster"),
        Binding("minus", "speed(-1)", "slower", show=False, priority=True, id="replay.slower"),
        Binding("colon", "seek_prompt", "seek", priority=True, id="replay.seek"),
        Binding("escape", "back", "back", id="replay.back"),
    ]

    def __init__(self, model: SessionModel, glyphs, start_at: int | None = None):
        super().__init__(model, glyphs, mode="replay")
        self.at = model.last_seq if start_at is None else max(1, min(start_at, model.last_seq))
        self.playing = False
        self.speed_index = 2
        self._seqs: list[int] | None = None
        self._timer = None
        self._pending_seek: int | None = None  # asked for in the seek modal, done once it has closed
        # The session's event count while the rest is still loading, else None. (Not `loading`: that is
        # Textual's own reactive, which covers the screen with a loading indicator.)
        self.loading_total: int | None = None
        self.painted = threading.Event()  # set once the first frame is on screen

    def compose_top(self) -> ComposeResult:
        yield Timeline(id="timeline")

    def on_mount(self) -> None:
        super().on_mount()
        self._draw_timeline()
        self.call_after_refresh(self.painted.set)

    # -- seeking ------------------------------------------------------------------------------------------

    def seek(self, seq: int) -> None:
        """Show every pane as of event `seq`. A short step forward (playback) appends to the stream; any
        other move redraws its last STREAM_WINDOW items."""
        seq = max(1, min(seq, self.model.last_seq))
        if seq == self.at:
            return
        with self.model.lock:
            self._seek(seq)

    def _seek(self, seq: int) -> None:
        before, after = self.model.stream_index_at(self.at), self.model.stream_index_at(seq)
        self.at = seq
        stream = self.query_one(AgentStream)
        with self.app.batch_update():
            self.dirty.discard("stream")
            self.refresh_views(set(_ALL) - {"stream"}, rebuild=True)
            if 0 <= after - before <= STREAM_WINDOW // 2 and stream.rendered == before:
                stream.append_items(self.model.stream[before:after])
            else:
                stream.rebuild(self.model.stream[:after], window=STREAM_WINDOW)
            stream.rendered = after
            self._draw_timeline()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "back" and len(self.app.screen_stack) <= 2:
            return False  # a replay-only window: nothing to go back to (q quits)
        return True

    def action_back(self) -> None:
        """Close a replay opened from the session browser (a replay-only window closes with q)."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def step_boundaries(self) -> list[int]:
        if self._seqs is None:
            self._seqs = sorted(self.model.step_seqs.values())
        return self._seqs

    def action_step(self, delta: int) -> None:
        bounds = self.step_boundaries()
        if not bounds:
            return self.action_event(delta)
        if delta > 0:
            i = bisect.bisect_right(bounds, self.at)
            self.seek(bounds[i] if i < len(bounds) else self.model.last_seq)
        else:
            i = bisect.bisect_left(bounds, self.at) - 1
            self.seek(bounds[i] if i >= 0 else 1)

    def action_event(self, delta: int) -> None:
        self.seek(self.at + delta)

    def action_seek_to(self, where: int) -> None:
        self.seek(self.model.last_seq if where < 0 else where)

    def action_seek_prompt(self) -> None:
        self.app.push_screen(SeekModal(), self._seek_text)

    def _seek_text(self, text: str | None) -> None:
        """The seek modal's answer. It arrives while the modal still covers this screen; the move itself
        waits until this screen is back on top (drawn under a modal, every pane is re-tinted too)."""
        if not text:
            return
        try:
            if text.startswith("#"):
                number = int(text[1:])
                if not 1 <= number <= self.model.last_seq:
                    self.app.notify(
                        f"no event #{number}: this session has events 1–{self.model.last_seq}",
                        severity="warning",
                    )
                    return
                self._pending_seek = number
            else:
                step = int(text)
                if step not in self.model.step_seqs:
                    self.app.notify(f"no step {step} in this session", severity="warning")
                    return
                self._pending_seek = self.model.step_seqs[step]
        except ValueError:
            self.app.notify("type a step number (12) or an event number (#1500)", severity="warning")

    def on_screen_resume(self) -> None:
        target, self._pending_seek = self._pending_seek, None
        if target is not None:
            self.seek(target)

    def go_to_step(self, step: int) -> None:
        if step in self.model.step_seqs:
            self.seek(self.model.step_seqs[step])

    # -- playing ------------------------------------------------------------------------------------------

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing and self.at >= self.model.last_seq:
            self.at = 1
        if self.playing and self._timer is None:
            self._timer = self.set_interval(1 / 10, self._tick)
        self._draw_timeline()

    def action_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        self._draw_timeline()

    def _tick(self) -> None:
        """Advance by 0.1 s × speed of session time; idle stretches count as at most MAX_GAP_S."""
        if not self.playing:
            return
        last = self.model.last_seq
        if self.at >= last:
            self.playing = False
            self._draw_timeline()
            return
        times = self.model.event_times  # times[seq - 1]
        budget, spent, target = 0.1 * SPEEDS[self.speed_index], 0.0, self.at
        while target < last:
            gap = min(max(times[target] - times[target - 1], 0.0), MAX_GAP_S)
            if spent + gap > budget and target > self.at:
                break
            spent += gap
            target += 1
        self.seek(target)

    def _draw_timeline(self) -> None:
        with self.model.lock:
            self.query_one(Timeline).show(
                self.model,
                self.at,
                self.playing,
                SPEEDS[self.speed_index],
                self.glyphs,
                loading=self.loading_total,
            )

    def on_replay_loading(self, message: ReplayLoading) -> None:
        self._seqs = None
        self._draw_timeline()

    def on_replay_loaded(self, message: ReplayLoaded) -> None:
        was_loading, self.loading_total = self.loading_total, None
        self._seqs = None
        if was_loading:  # the first frame showed the beginning; now that all is here, show the end
            self.seek(self.model.last_seq)
        self._draw_timeline()

    def on_unmount(self) -> None:
        """Closed (back to the session browser): stop a load still running and let the collector see the
        model again (the loader froze it)."""
        self.app.workers.cancel_group(self.app, "replay")
        self.model.payloads.close()
        gc.unfreeze()


_ALL = {"stream", "approvals", "files", "jobs", "logs", "metrics", "gpu"}
