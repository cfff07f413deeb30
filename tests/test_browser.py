"""intern-tui in a browser: `textual serve "intern-tui attach ID"` driven by a real headless Chromium.

The page is a terminal drawn on a canvas, so the test acts as the person at the browser would: it presses
keys and checks what they did to the session (an approval recorded by the session process), and keeps a
screenshot (`$INTERN_TUI_SCREENSHOTS`, else the test's tmp dir) to look at. Skipped, with the reason,
where Chromium or playwright / textual-serve are not installed (`.ci/run` installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import wait_for
from test_attach_tui import (
    stop_all,  # noqa: F401  (fixture)
    waiting_session,
)
from test_host import events, status

from intern_tui.host import live_host

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("textual_serve", reason="textual-serve is not installed")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    """Start `textual serve COMMAND` on 127.0.0.1; yields a function returning the page's URL."""
    procs: list[subprocess.Popen] = []

    def start(command: str) -> str:
        port = free_port()
        code = (
            "from textual_serve.server import Server\n"
            f"Server({command!r}, host='127.0.0.1', port={port}).serve()\n"
        )
        log = open(tmp_path / "serve.log", "wb")
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT))

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, timeout=30)
        return f"http://127.0.0.1:{port}/"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def screenshot_dir(tmp_path: Path) -> Path:
    path = Path(os.environ.get("INTERN_TUI_SCREENSHOTS") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_attach_in_a_browser_shows_the_session_and_approves_from_the_page(
    home,
    tmp_path,
    serve,
    stop_all,  # noqa: F811
):
    sid = waiting_session(home, tmp_path, stop_all)
    url = serve(f"{sys.executable} -m intern_tui attach {sid}")
    shot = screenshot_dir(tmp_path) / "browser-attach.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("body.-first-byte", timeout=60_000)  # the app's first bytes arrived
            page.click("#terminal")

            def approved():  # `a` until the attached window has the request and the session records it
                if not events(home, sid, ["approval_decided"]):
                    page.keyboard.press("a")
                    time.sleep(0.5)
                return events(home, sid, ["approval_decided"])

            (decided,) = wait_for(approved, timeout=90)
            assert decided.payload["decision"] == "approve"
            wait_for(lambda: status(home, sid) == "running", timeout=30)
            time.sleep(1.0)  # let the page draw the running job before the picture
            page.screenshot(path=str(shot))
            page.keyboard.press("q")
            time.sleep(0.5)
            page.keyboard.press("Enter")  # detach: the page's app exits, the session goes on
            page.wait_for_selector("body.-closed", timeout=30_000)
        finally:
            browser.close()
    assert live_host(home, sid) is not None  # closing the browser's app stopped nothing
    from PIL import Image

    with Image.open(shot) as image:  # a drawn dashboard, not a blank or loading page
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
