"""`intern-tui doctor`: what this machine gives intern-tui, one line per check, with the fix where one is needed.

Nothing heavy is imported: package versions come from their metadata, the GPU from one NVML snapshot.
Exit code 1 when something intern-tui needs is broken (the data home, the sandbox worker), else 0; a
missing GPU or a process-only sandbox are reported, not failures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__

PACKAGES = (
    "smolagents",
    "textual",
    "litellm",
    "trl",
    "transformers",
    "torch",
    "huggingface_hub",
    "nvidia-ml-py",
)


def run(args: argparse.Namespace, home: Path) -> int:
    checks = collect(home)
    if args.json:
        print(json.dumps(checks, ensure_ascii=False, indent=2))
    else:
        width = max(len(c["name"]) for c in checks["checks"])
        for check in checks["checks"]:
            mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[check["status"]]
            print(f"{mark}  {check['name']:<{width}}  {check['detail']}")
            if check.get("fix"):
                print(f"      {'':<{width}}  fix: {check['fix']}")
    return 1 if any(c["status"] == "fail" for c in checks["checks"]) else 0


def collect(home: Path) -> dict[str, Any]:
    checks = [
        _check("intern-tui", "ok", f"{__version__} on Python {platform.python_version()} ({sys.executable})"),
        _home(home),
        *_sandbox(),
        _gpu(),
        _slurm(),
        _packages(),
        _model(),
    ]
    return {"version": __version__, "checks": checks}


def _check(name: str, status: str, detail: str, fix: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "detail": detail, "fix": fix, **extra}


def _home(home: Path) -> dict[str, Any]:
    from ..errors import InternError
    from ..store import open_store

    try:
        store = open_store(home)
    except InternError as exc:
        return _check("data home", "fail", f"{home}: {exc.message}", exc.hint)
    return _check("data home", "ok", f"{store.home} (sessions.db, workspaces/)")


def _sandbox() -> list[dict[str, Any]]:
    from ..config import load_config
    from ..errors import InternError
    from ..sandbox import probe, settings_from_config
    from ..sandbox.isolation import TaskLimit

    try:
        settings = settings_from_config(load_config().section("sandbox"))
    except InternError as exc:
        return [_check("sandbox", "fail", exc.message, exc.hint)]
    isolation = probe(settings.isolation)
    limits = settings.limits
    tasks = TaskLimit("doctor")
    tasks_text = tasks.describe()
    tasks.close()
    out = [
        _check(
            "sandbox",
            "ok" if isolation.level == "bubblewrap" else "warn",
            f"agent code runs in a separate worker process without secrets; isolation: {isolation.detail}",
            None if isolation.level == "bubblewrap" else "apt install bubblewrap (and allow user namespaces)",
            level=isolation.level,
        ),
        _check(
            "sandbox limits",
            "ok",
            f"memory {_limit(limits.memory_mb, ' MB')}, CPU {_limit(limits.cpu_seconds, ' s')} per step, "
            f"wall clock {_limit(limits.step_timeout, ' s')} per step, {tasks_text}",
        ),
    ]
    out.append(_worker_starts(isolation, limits))
    return out


def _limit(value: Any, unit: str) -> str:
    return "unlimited" if not value else f"{value:g}{unit}"


def _worker_starts(isolation, limits) -> dict[str, Any]:
    """Start a real worker and run one line of code in it: the end-to-end check."""
    import tempfile

    from ..sandbox.executor import WorkerExecutor

    with tempfile.TemporaryDirectory(prefix="intern-tui-doctor-") as tmp:
        os.chmod(tmp, 0o755)
        executor = WorkerExecutor(Path(tmp), lambda *a: None, isolation=isolation, limits=limits)
        try:
            executor.tool_names = []
            out = executor("print(6 * 7)")
            ok = out.logs.strip() == "42"
            return _check(
                "sandbox worker", "ok" if ok else "fail", "ran a line of agent code" if ok else out.logs
            )
        except Exception as exc:
            return _check("sandbox worker", "fail", f"could not run agent code: {exc}", "see intern-tui.log")
        finally:
            executor.cleanup()


def _gpu() -> dict[str, Any]:
    from ..telemetry.gpu import STATE_OK, read_snapshot

    snap = read_snapshot()
    if snap["state"] == STATE_OK:
        names = ", ".join(sorted({g.get("name") or "GPU" for g in snap.get("gpus", [])}))
        return _check("GPU", "ok", f"{len(snap.get('gpus', []))} × {names} (NVML)")
    return _check("GPU", "warn", snap.get("message") or snap["state"], "jobs run on CPU or on HF Jobs")


def _slurm() -> dict[str, Any]:
    """backend='slurm': is there a client here, and does the controller answer? (optional: never a failure)"""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None:
        return _check("Slurm", "ok", "not installed (optional: backend='slurm' needs sbatch on PATH)")
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%P %a %D"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _check("Slurm", "warn", f"sinfo did not answer: {exc}", "check SLURM_CONF and slurmctld")
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return _check("Slurm", "warn", f"sbatch found, but the cluster does not answer: {why}",
                      "set SLURM_CONF to the cluster's slurm.conf, or run intern-tui on a login node")  # fmt: skip
    parts = [" ".join(line.split()[:1]) for line in res.stdout.splitlines() if line.strip()]
    return _check("Slurm", "ok", f"backend='slurm' available; partitions: {', '.join(parts) or 'none'}")


def _packages() -> dict[str, Any]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    missing = [v for v in versions if v.endswith("missing")]
    return _check("packages", "warn" if missing else "ok", ", ".join(versions))


def _model() -> dict[str, Any]:
    from ..config import load_config
    from ..errors import InternError

    try:
        config = load_config()
    except InternError as exc:
        return _check("model", "fail", exc.message, exc.hint)
    keys = [
        k for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "GEMINI_API_KEY") if os.environ.get(k)
    ]
    if config.model:
        return _check(
            "model", "ok", f"config: {config.model}" + (f" (keys set: {', '.join(keys)})" if keys else "")
        )
    if keys:
        return _check("model", "ok", f"no model in config; keys set: {', '.join(keys)}")
    return _check(
        "model", "warn", "no model configured and no provider key set", "intern-tui demo works offline"
    )
