"""`python -m intern_tui.host SPEC`: the session process (see host/__init__.py and host/server.py)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..errors import InternError


def build_session(runtime, spec: dict[str, Any]):
    """The Supervisor for a new, resumed or forked session, not started yet."""
    from ..agent.approvals import Budget
    from ..agent.session import SessionOptions, fork_session, resume_session, start_session
    from ..sandbox import Limits, SandboxSettings

    kind, session_id = spec["kind"], spec["session_id"]
    if kind == "start":
        fields = dict(spec["options"])
        if isinstance(fields.get("budget"), dict):
            fields["budget"] = Budget(**fields["budget"])
        if isinstance(fields.get("settings"), dict):
            from ..agent.models import ModelSettings

            fields["settings"] = ModelSettings.from_json(fields["settings"])
        if isinstance(fields.get("sandbox"), dict):
            sandbox = fields["sandbox"]
            fields["sandbox"] = SandboxSettings(sandbox["isolation"], Limits(**sandbox["limits"]))
        return start_session(runtime, SessionOptions(**fields), start=False, session_id=session_id)
    overrides = spec.get("overrides") or {}
    if kind == "resume":
        return resume_session(runtime, session_id, start=False, **overrides)
    if kind == "fork":
        return fork_session(
            runtime, spec["parent_id"], spec["step"], start=False, session_id=session_id, **overrides
        )
    raise ValueError(f"unknown session kind {kind!r}")


def main(argv: list[str] | None = None) -> int:
    from ..agent.session import Runtime
    from ..cli import _setup_logging
    from ..config import load_config
    from . import host_file, socket_path
    from .server import SessionHost, write_host_file

    spec_path = Path((argv or sys.argv[1:])[0])
    spec = json.loads(spec_path.read_text())
    home, session_id = Path(spec["home"]), spec["session_id"]
    status_file = home / "run" / f"{session_id}.start.json"
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started us may go away
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _setup_logging(home)
    try:
        mirror = bool(load_config().section("mirror").get("enabled"))
        runtime = Runtime.open(home, mirror=mirror)
    except InternError as exc:
        _report(status_file, exc)
        return exc.exit_code
    try:
        try:
            sup = build_session(runtime, spec)
        except InternError as exc:
            _report(status_file, exc)
            return exc.exit_code
        except Exception as exc:
            logging.getLogger("intern_tui").exception("the session could not be built")
            _report(
                status_file,
                InternError(
                    f"internal error: {type(exc).__name__}: {exc}", hint=f"see {home / 'intern-tui.log'}"
                ),
            )
            return 1
        host = SessionHost(runtime, sup, socket_path(home, session_id))
        host.listen()
        sampler = _gpu_sampler(sup)
        signal.signal(signal.SIGTERM, lambda *_: _terminate(sup))
        sup.start()
        write_host_file(host_file(home, session_id), host.socket_path)
        sup.wait()
        if sampler is not None:
            sampler.stop()
        host.finish()
        return 0
    except Exception:
        logging.getLogger("intern_tui").exception("session process failed")
        raise
    finally:
        host_file(home, session_id).unlink(missing_ok=True)
        spec_path.unlink(missing_ok=True)
        runtime.close()


def _terminate(sup) -> None:
    """SIGTERM: interrupt now; a step that does not stop within the grace period is abandoned."""
    import threading

    from ..commands.run import SIGTERM_GRACE_S

    sup.interrupt("the session process was asked to stop (SIGTERM)")
    timer = threading.Timer(
        SIGTERM_GRACE_S, sup.abandon, ("stopped by SIGTERM while a step was still running",)
    )
    timer.daemon = True
    timer.start()


def _gpu_sampler(sup):
    """NVML sampling lives with the session (its samples are events every client sees, and replay too)."""
    from ..telemetry import GpuSampler

    sampler = GpuSampler(emit=sup.record_gpu_sample, pid_to_job=lambda pid: sup.job_pids().get(pid))
    sampler.start()
    return sampler


def _report(path: Path, exc: InternError) -> None:
    path.write_text(json.dumps({"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}))
    os.chmod(path, 0o600)


if __name__ == "__main__":
    sys.exit(main())
