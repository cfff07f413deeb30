"""Replay in a real pseudo-terminal: the program as a user runs it, read back through a terminal emulator.

The headless harness once reported replays as fine while a real terminal never painted any session over
5,000 events (a loading indicator covered the screen). These tests look at what the terminal shows.
"""

import re

import pytest

pytest.importorskip("pyte")

from generated import build_session  # noqa: E402
from terminal import Terminal, intern_tui  # noqa: E402

from intern_tui.agent.session import Runtime  # noqa: E402

EVENTS = 20_000


def position(screen: str) -> tuple[int, int] | None:
    found = re.search(r"event (\d+)/(\d+)", screen)
    return (int(found.group(1)), int(found.group(2))) if found else None


@pytest.fixture(scope="module")
def long_session(tmp_path_factory):
    home = tmp_path_factory.mktemp("replay-home")
    rt = Runtime.open(home, mirror=False)
    sid = build_session(rt, EVENTS)
    rt.close()
    return home, sid


@pytest.mark.slow
def test_a_20k_event_session_replays_in_a_real_terminal(long_session):
    home, sid = long_session
    with Terminal(intern_tui("--home", str(home), "replay", sid), cols=160, rows=45) as term:
        # the whole session loads, then the timeline sits on its last event
        # (and the stream is drawn: not a blank screen, not a loading indicator)
        term.wait_for(
            lambda s: position(s) == (EVENTS, EVENTS) and "REPLAY · DONE" in s and "session done" in s,
            timeout=120,
        )
        # a step back moves the timeline and the stream
        term.press("left")
        term.wait_for(lambda s: (position(s) or (EVENTS,))[0] < EVENTS, timeout=30)
        at, total = position(term.text())
        assert total == EVENTS and at < EVENTS
        # seek to an event far back: every pane is drawn as of it
        term.press(":")
        term.wait_for_text("Seek to a step", timeout=30)
        term.settle(0.3)  # the modal's input has focus once it is drawn and quiet
        term.type("#1500")
        term.wait_for_text("#1500", timeout=30)
        term.press("enter")
        term.wait_for(lambda s: position(s) == (1500, EVENTS), timeout=30)
        term.press("j")  # the jobs pane: its log is read back from the store as of event 1500
        term.wait_for(lambda s: "Log · job-1" in s and "'loss'" in s, timeout=30)
        term.press("q")
        assert term.wait_exit(30) == 0
