"""How the worker process is fenced in: bubblewrap when it works here, else a plain child process.

Under bubblewrap (`bwrap`) the worker gets new user, pid, network, IPC, UTS and cgroup namespaces: no network
(not even the host's loopback), uid `nobody`, no capabilities, its own /proc, /dev and /tmp, and a file
system holding the system libraries, the Python installation and the session's workspace, all read-only
(files change only through the tools, which version and record every write), nothing else (no home directory, no /etc beyond the loader cache, no other session's files).
Whether bwrap works is probed once per process by starting the real command line, so a kernel without
user namespaces or a container without the privilege shows up as a clear "process only" level.

In both modes the worker's environment is built from nothing (no API keys, no HF_TOKEN, nothing of the
user's environment) and it runs under resource limits (address space, CPU time, no core dumps).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "bubblewrap", "process")


@dataclass(frozen=True)
class Isolation:
    level: str  # "bubblewrap" | "process"
    detail: str  # one line a user can act on

    @property
    def label(self) -> str:
        """Short form for the header."""
        return "bwrap" if self.level == "bubblewrap" else "process only"


@dataclass(frozen=True)
class Limits:
    """What one worker may use. None switches a limit off."""

    memory_mb: int | None = 4096  # address space of the worker process
    cpu_seconds: float | None = 600.0  # CPU time per step
    step_timeout: float | None = 1800.0  # wall-clock time per step, time spent inside tool calls excluded
    kill_grace: float = 2.0  # after an interrupt, how long the code has to stop before the worker is killed


WORKER_MODULE = "intern_tui.sandbox.worker"


def _bootstrap(paths: list[str], module: str) -> str:
    # -I ignores PYTHON* variables and the user's site; the package directory is put on sys.path by hand.
    return f"import sys; sys.path[:0] = {paths!r}; from {module} import main; main()"


def _read_only_paths() -> list[str]:
    """The Python installation the worker runs from: interpreter, stdlib, site-packages, our package."""
    import smolagents

    import intern_tui

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    paths.add(str(Path(intern_tui.__file__).resolve().parent))
    paths.add(str(Path(smolagents.__file__).resolve().parent.parent))  # its site-packages, wherever it is
    real = Path(sys.executable).resolve()
    if not any(str(real).startswith(p.rstrip("/") + "/") for p in paths):
        paths.add(str(real.parent.parent))
    # Nested paths are covered by their parents; bind each tree once.
    ordered = sorted({str(Path(p).resolve()) for p in paths if p and Path(p).exists()})
    return [p for i, p in enumerate(ordered) if not any(p.startswith(q + "/") for q in ordered[:i])]


def worker_env(workspace: Path) -> dict[str, str]:
    """Everything the worker's environment holds. Nothing is copied from ours."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workspace),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def bwrap_command(bwrap: str, workspace: Path, python_argv: list[str]) -> list[str]:
    workspace = workspace.resolve()
    argv = [
        bwrap,
        "--unshare-all",  # user, ipc, pid, net, uts, cgroup
        "--unshare-user",
        "--uid", "65534",
        "--gid", "65534",
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",  # no controlling terminal: no TIOCSTI keystroke injection into the user's shell
        "--cap-drop", "ALL",
        "--clearenv",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for link, target in (
        ("/bin", "usr/bin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
        ("/sbin", "usr/sbin"),
    ):
        if os.path.islink(link):
            argv += ["--symlink", target, link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    if os.path.exists("/etc/ld.so.cache"):
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    # After the private /tmp: an installation under /tmp (a CI venv, pip --target) would be hidden by it.
    for path in _read_only_paths():
        if not path.startswith("/usr/"):
            argv += ["--ro-bind", path, path]
    # Read-only even here: files change only through the tools, so every write is checked, versioned and
    # recorded (agent code has no `open` anyway; this holds if it ever got one).
    argv += ["--ro-bind", str(workspace), str(workspace), "--chdir", str(workspace)]
    for key, value in worker_env(workspace).items():
        argv += ["--setenv", key, value]
    return argv + ["--", *python_argv]


def python_argv(module: str = WORKER_MODULE, extra_paths: tuple[str, ...] = ()) -> list[str]:
    import intern_tui

    package_parent = str(Path(intern_tui.__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-c", _bootstrap([package_parent, *extra_paths], module)]


def command(
    isolation: Isolation,
    workspace: Path,
    fd: int,
    limits: Limits,
    module: str = WORKER_MODULE,
    extra_paths: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """The worker's command line and environment (empty under bwrap, which sets it inside).
    `module` and `extra_paths` let the tests run a worker with the first layer removed."""
    argv = [*python_argv(module, extra_paths), str(fd), json.dumps(rlimits(limits))]
    if isolation.level == "bubblewrap":
        return bwrap_command(shutil.which("bwrap") or "bwrap", workspace, argv), {}
    return argv, worker_env(workspace)


def _tasks_of_user(uid: int) -> int:
    """Processes and threads running as `uid` now (RLIMIT_NPROC counts both, per user)."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count


def rlimits(limits: Limits, spare_tasks: int = 128) -> dict[str, int]:
    """The resource limits the worker sets on itself at start, before it runs any code. Lowered hard limits
    can't be raised again without CAP_SYS_RESOURCE, which the worker doesn't have under bubblewrap.
    RLIMIT_NPROC is per user: it allows `spare_tasks` more than the user runs now (a fork bomb stops there)."""
    out = {"RLIMIT_CORE": 0, "RLIMIT_NOFILE": 256, "RLIMIT_NPROC": _tasks_of_user(os.getuid()) + spare_tasks}
    if limits.memory_mb:
        out["RLIMIT_AS"] = int(limits.memory_mb) * 1024 * 1024
    return out


def apply_rlimits(values: dict[str, int]) -> None:
    """In the worker: set each limit (soft and hard), never above what it already is."""
    for name, value in values.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass  # e.g. NPROC below what already runs: the others still apply


PIDS_V1 = Path("/sys/fs/cgroup/pids")
MAX_TASKS = 256  # processes + threads one worker may have when the limit comes from a cgroup


class TaskLimit:
    """Caps the number of processes a worker can start, so a fork bomb stops at a few hundred.

    For ordinary users RLIMIT_NPROC does it (see `rlimits`); the kernel exempts root from it, so as root we
    use a pids cgroup when one is writable (cgroup v1's pids hierarchy). Where neither applies the worker
    has no process limit, and `describe()` says so.
    """

    def __init__(self, name: str):
        self.dir: Path | None = None
        if os.geteuid() != 0:
            return
        try:
            if PIDS_V1.is_dir() and os.access(PIDS_V1, os.W_OK):
                path = PIDS_V1 / "intern-tui" / name
                path.mkdir(parents=True, exist_ok=True)
                (path / "pids.max").write_text(str(MAX_TASKS))
                self.dir = path
        except OSError:
            self.dir = None

    def join_fd(self) -> int | None:
        """An fd the child writes "0" to between fork and exec, to enter the cgroup (see `enter`)."""
        if self.dir is None:
            return None
        try:
            return os.open(self.dir / "cgroup.procs", os.O_WRONLY)
        except OSError:
            return None

    @staticmethod
    def enter(fd: int) -> None:
        os.write(fd, b"0")  # fork-safe: one system call, no Python-level lock

    def close(self) -> None:
        for _ in range(40):  # the kernel ends a killed sandbox's processes asynchronously
            if self.dir is None:
                return
            try:
                self.dir.rmdir()  # only succeeds once the worker's processes are gone
                self.dir = None
            except OSError:
                time.sleep(0.05)

    def describe(self) -> str:
        if self.dir is not None:
            return f"at most {MAX_TASKS} processes (pids cgroup)"
        if os.geteuid() == 0:
            return "no process limit (root, and no writable pids cgroup)"
        return "process limit from RLIMIT_NPROC"


@functools.cache
def probe(mode: str = "auto") -> Isolation:
    """The isolation this machine gives the worker, tried once per process and mode."""
    if mode not in MODES:
        raise ValueError(f"sandbox isolation must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "process":
        return Isolation("process", "process only (isolation = 'process' in config): no OS sandbox")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation(
            "process",
            "process only: bubblewrap is not installed (apt install bubblewrap) - no network or file-system fence",
        )
    with tempfile.TemporaryDirectory(prefix="intern-tui-probe-") as tmp:
        argv = bwrap_command(bwrap, Path(tmp), [sys.executable, "-I", "-c", "import encodings"])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Isolation("process", f"process only: bubblewrap failed to start ({exc})")
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return Isolation(
            "process",
            f"process only: bubblewrap cannot create a sandbox here ({why}); "
            "user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone / AppArmor)",
        )
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    return Isolation(
        "bubblewrap",
        f"{version or 'bubblewrap'}: no network, read-only Python, workspace only, uid nobody",
    )
