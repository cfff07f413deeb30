"""The layers hold: import-linter checks the contracts in pyproject.toml ([tool.importlinter]).

A broken contract fails here with import-linter's report (the chain of imports that breaks it). Imports
inside functions count: the second test plants one in a copy of the package and expects the break.
"""

import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LINT = textwrap.dedent(
    """
    import sys
    from importlinter.cli import lint_imports

    sys.exit(lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True))
    """
)


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LINT], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_are_kept():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_lazy_import_of_the_supervisor_in_the_tui_breaks_a_contract(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT / "intern_tui", copy / "intern_tui", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    navigation = copy / "intern_tui" / "tui" / "navigation.py"
    navigation.write_text(
        navigation.read_text()
        + "\n\ndef _reach_in():\n    from ..agent.supervisor import Supervisor\n\n    return Supervisor\n"
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy shadows the installed package
    out = _lint(copy, env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "intern_tui.tui.navigation -> intern_tui.agent.supervisor" in out.stdout
    assert "1 broken" in out.stdout


# What the TUI may use of a session, in-process (Supervisor) or attached (SessionClient). docs/architecture.md
FACE = (
    "session_id", "last_seq", "status", "running", "pause", "resume", "redirect", "interrupt", "decide",
    "cancel_job", "rename", "job_pids", "record_gpu_sample", "wait", "abandon",
)  # fmt: skip


def _has(cls, name: str) -> bool:
    return name in dir(cls) or f"self.{name} = " in inspect.getsource(cls.__init__)


def test_the_session_client_offers_the_supervisors_face():
    from intern_tui.agent.supervisor import Supervisor
    from intern_tui.host.client import SessionClient

    for name in FACE:
        assert _has(Supervisor, name), f"Supervisor lacks {name}"
        assert _has(SessionClient, name), f"SessionClient lacks {name}"
        a, b = getattr(Supervisor, name, None), getattr(SessionClient, name, None)
        if inspect.isfunction(a) and inspect.isfunction(b):
            assert list(inspect.signature(a).parameters) == list(inspect.signature(b).parameters), name


def test_the_tui_steers_a_session_through_that_face_only():
    """What import rules can't see: attribute reach-ins (`sup.emitter`, `supervisor.gate.ctx.jobs`)."""
    used = set()
    for path in (ROOT / "intern_tui" / "tui").rglob("*.py"):
        used |= set(re.findall(r"(?:self\.supervisor|app\.supervisor|\bsup)\.(\w+)", path.read_text()))
    # start: the app starts the Supervisor it has just built in-process (a client's session is running)
    assert used - {"start"} <= set(FACE), used - {"start"} - set(FACE)
    assert {"pause", "decide", "session_id"} <= used  # the scan sees the TUI's real calls
