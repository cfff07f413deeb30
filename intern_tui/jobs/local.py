"""The local runner: a job is a process group on this machine that outlives intern-tui.

The script's stdout and stderr go straight to `jobs/<id>/log.txt` (not through a pipe to us), and the job
runs in its own session, so closing the TUI or a crash of intern-tui leaves it running. A tiny `/bin/sh`
wrapper records the exit code in `jobs/<id>/exit_code` when the script ends, so a job that finished while
intern-tui was away still has a known exit status when the session is resumed.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import process

# Runs "$@" and records its exit status atomically. The TERM/INT traps keep the shell alive until the
# script has handled the same signal (it's in the same group), so a cancelled job records 143 too; the
# traps are reset in the script itself (exec resets handled signals).
WRAPPER = (
    'trap ":" TERM INT; "$@"; code=$?; '
    'printf "%s\\n" "$code" > "$INTERN_TUI_EXIT_FILE.tmp" && mv -f "$INTERN_TUI_EXIT_FILE.tmp" "$INTERN_TUI_EXIT_FILE"; '
    'exit "$code"'
)


@dataclass
class Outcome:
    """How a job ended, as the runner sees it (the manager adds canceled/timeout)."""

    status: str  # completed | failed | lost | canceled
    exit_code: int | None = None
    error: str | None = None
    alert: dict[str, Any] | None = (
        None  # raised with the end (e.g. a billing refusal): kind, severity, message
    )


def read_exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def outcome_from_exit_code(code: int) -> Outcome:
    if code == 0:
        return Outcome("completed", 0)
    if code > 128:
        return Outcome("failed", code, f"the job was killed by signal {code - 128} (exit code {code})")
    return Outcome("failed", code, f"the job exited with code {code}; read its log for the error")


class LocalHandle:
    """A running (or re-attached) local job: its process group and exit-code file."""

    backend = "local"

    def __init__(self, pid: int, pgid: int, exit_file: Path, popen: subprocess.Popen | None = None):
        self.pid = pid
        self.pgid = pgid
        self.exit_file = exit_file
        self.popen = popen
        self.remote_id: str | None = None
        self.url: str | None = None
        self.flavor: str | None = None
        self.gpu_ids: str | None = None  # the CUDA_VISIBLE_DEVICES it was given, when chosen for it

    def status_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": self.pid, "pgid": self.pgid}
        if self.gpu_ids is not None:
            out["cuda_visible_devices"] = self.gpu_ids
        return out

    def poll(self) -> Outcome | None:
        """None while the job runs; its Outcome once the wrapper has ended."""
        if self.popen is not None:
            rc = self.popen.poll()
            if rc is None:
                return None
            code = read_exit_code(self.exit_file)
            return outcome_from_exit_code(code if code is not None else (128 - rc if rc < 0 else rc))
        code = read_exit_code(self.exit_file)
        if code is not None:
            process.reap_group(self.pgid)
            return outcome_from_exit_code(code)
        if process.group_alive(self.pgid):
            return None
        code = read_exit_code(self.exit_file)  # it may have been written between the two checks
        if code is not None:
            return outcome_from_exit_code(code)
        return Outcome(
            "lost",
            None,
            "the job's processes ended while intern-tui was not watching and left no exit code "
            "(killed with SIGKILL, or the machine restarted); its log is kept",
        )

    def running(self) -> bool:
        """True while any process of the job's group still runs (including leftovers after the script)."""
        return process.group_alive(self.pgid, keep=self.pid if self.popen is not None else None)

    def cancel(self, grace: float) -> str:
        keep = self.pid if self.popen is not None else None
        return process.end_group(self.pgid, grace, poll=self.popen.poll if self.popen else None, keep=keep)


class ExitedHandle:
    """A job that ended while nobody watched, with its recorded exit code."""

    backend = "local"
    pid = pgid = remote_id = url = flavor = None

    def __init__(self, code: int) -> None:
        self.code = code

    def poll(self) -> Outcome:
        return outcome_from_exit_code(self.code)

    def running(self) -> bool:
        return False

    def cancel(self, grace: float) -> str:
        return "gone"


class GoneHandle:
    """A job known to have no process to watch: it ends as lost at the first look."""

    backend = "local"
    pid = pgid = remote_id = url = flavor = None

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def poll(self) -> Outcome:
        return Outcome("lost", None, f"{self.reason}; its log, if any, is kept")

    def running(self) -> bool:
        return False

    def cancel(self, grace: float) -> str:
        return "gone"


def build_command(
    python: str,
    script: Path,
    args: list[str],
    *,
    gpus: int | None = None,
    accelerate: bool = False,
    launcher: str | None = None,
) -> list[str]:
    """The command line: `python script args…`, or through a launcher that starts one process per GPU:
    `accelerate launch --num_processes N` (the default for gpus > 1) or `torchrun --nproc_per_node N`
    (`launcher="torchrun"`; `--standalone` picks a free rendezvous port, so two jobs never collide)."""
    procs = str(max(gpus or 1, 1))
    if launcher == "torchrun":
        return [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", procs,
                str(script), *args]  # fmt: skip
    if accelerate or launcher == "accelerate" or (gpus is not None and gpus > 1):
        launcher_cmd = [python, "-m", "accelerate.commands.launch", "--num_processes", procs]
        return launcher_cmd + [str(script), *args]
    return [python, str(script), *args]


LAUNCHERS = (None, "accelerate", "torchrun")


def start_local(
    job_dir: Path,
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
) -> LocalHandle:
    """Start `command` detached from us, output to `job_dir/log.txt`; returns its handle."""
    process.become_subreaper()
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "output").mkdir(exist_ok=True)
    exit_file = job_dir / "exit_code"
    env = {**env, "INTERN_TUI_EXIT_FILE": str(exit_file)}
    with open(job_dir / "log.txt", "ab") as log:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", WRAPPER, "intern-tui-job", *command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    handle = LocalHandle(popen.pid, popen.pid, exit_file, popen)
    _write_meta(job_dir, {"pid": popen.pid, "pgid": popen.pid, "command": command, "started_at": time.time()})
    return handle


def _write_meta(job_dir: Path, meta: dict[str, Any]) -> None:
    """job.json beside the log: what was run, for a human looking at the folder."""
    try:
        (job_dir / "job.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError:
        pass


# A job's environment is built from this allow-list of our variables, never by copying all of them: tokens
# and keys (HF_TOKEN, cloud and W&B keys, LLM API keys) reach a job only when the approved launch names them
# in `secrets=`. Extend it with `[jobs] env_allow = ["NAME", "PREFIX_*"]` in config.toml.
ENV_ALLOW = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_\w+|TZ|TERM|TMPDIR|TEMP|TMP|"
    r"CUDA_\w+|NVIDIA_\w+|NCCL_\w+|TORCH_\w+|PYTORCH_\w+|TORCHINDUCTOR_\w+|TRITON_\w+|"
    r"OMP_\w+|MKL_\w+|OPENBLAS_\w+|KMP_\w+|"
    r"HF_HOME|HF_HUB_CACHE|HF_DATASETS_CACHE|HF_HUB_OFFLINE|HF_DATASETS_OFFLINE|HF_HUB_ENABLE_HF_TRANSFER|"
    r"HF_HUB_DISABLE_\w+|HF_ENDPOINT|TRANSFORMERS_\w+|TOKENIZERS_PARALLELISM|ACCELERATE_\w+|"
    r"WANDB_MODE|WANDB_PROJECT|WANDB_ENTITY|WANDB_DIR|TRACKIO_DIR|TRACKIO_PROJECT|"
    r"VIRTUAL_ENV|CONDA_\w+|LD_LIBRARY_PATH|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|"
    r"HTTPS?_PROXY|https?_proxy|NO_PROXY|no_proxy|XDG_CACHE_HOME|XDG_RUNTIME_DIR)$"
)
# Names an allow-listed pattern could still let through but that carry credentials.
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE", re.I)
# Variables the agent may not set through `env=`: they make the interpreter or the loader run other code
# than the approved snapshot (PYTHONPATH would import modules from the live workspace instead).
FORBIDDEN_ENV = re.compile(
    r"^(LD_\w+|DYLD_\w+|PYTHONPATH|PYTHONSTARTUP|PYTHONHOME|PYTHONINSPECT|PYTHONEXECUTABLE|PYTHONUSERBASE|"
    r"PYTHONSAFEPATH|PYTHONNOUSERSITE|BASH_ENV|ENV|PERL5OPT|PERL5LIB|NODE_OPTIONS|RUBYOPT|GCONV_PATH|"
    r"INTERN_TUI_\w+)$"
)


def allowed_env(base: dict[str, str], extra_allow: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """The part of `base` a job inherits: allow-listed names (plus `extra_allow`: exact names or PREFIX_*),
    never a name that says secret."""
    exact = {n for n in extra_allow if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in extra_allow if n.endswith("*"))
    out = {}
    for key, value in base.items():
        if not (ENV_ALLOW.match(key) or key in exact or (prefixes and key.startswith(prefixes))):
            continue
        if _SECRET_NAME.search(key) and key not in exact:
            continue
        out[key] = value
    return out


def check_agent_env(env: dict[str, Any] | None) -> None:
    """Refuse `env=` entries that would run code other than the approved snapshot."""
    for key in env or {}:
        if FORBIDDEN_ENV.match(str(key)):
            from ..errors import ToolError

            raise ToolError(
                f"env may not set {key}: it changes what code the job runs (the approved snapshot); "
                "put what the job needs in the script or its arguments"
            )


def child_env(
    base: dict[str, str],
    extra: dict[str, Any] | None,
    job_id: str,
    job_dir: Path,
    *,
    secrets: dict[str, str] | None = None,
    extra_allow: list[str] | tuple[str, ...] = (),
) -> dict[str, str]:
    """The job's environment: the allow-listed part of ours, the caller's additions (a None value removes a
    variable), the secrets the approval named, and the intern-tui contract variables."""
    check_agent_env(extra)
    env = allowed_env(base, extra_allow)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(str(key), None)
        else:
            env[str(key)] = str(value)
    env.update(secrets or {})
    env.update(
        {
            "INTERN_TUI_JOB_ID": job_id,
            "INTERN_TUI_METRICS_FILE": str(job_dir / "metrics.jsonl"),
            "INTERN_TUI_OUTPUT_DIR": str(job_dir / "output"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class LocalBackend:
    """Jobs on this machine (see the module docstring). `gpu_snapshot` returns the GPU sampler's table,
    from which a job asking for `gpus=N` gets N free GPUs."""

    name = "local"

    def __init__(
        self,
        python: str,
        *,
        env_allow: list[str] | tuple[str, ...] = (),
        gpu_snapshot: Any = None,
        base_env: Any = None,
    ) -> None:
        self.python = python
        self.env_allow = tuple(env_allow)
        self.gpu_snapshot = gpu_snapshot
        self.base_env = base_env  # callable -> dict; os.environ by default (read at each launch)

    def _base(self) -> dict[str, str]:
        import os

        return dict(self.base_env() if self.base_env is not None else os.environ)

    def free_gpus(self) -> list[int] | None:
        from .gpus import free_gpus, visible_indices

        if self.gpu_snapshot is None:
            return None
        try:
            return free_gpus(self.gpu_snapshot(), visible_indices(self._base()))
        except Exception:  # an estimate must never fail on telemetry
            return None

    def launch(self, spec: Any) -> LocalHandle:
        from .gpus import pick_gpus

        if spec.launcher not in LAUNCHERS:
            from ..errors import ToolError

            raise ToolError("launcher must be 'accelerate' or 'torchrun' (or None)")
        base = self._base()
        env = child_env(base, spec.env, spec.job_id, spec.job_dir, secrets=spec.secrets,
                        extra_allow=self.env_allow)  # fmt: skip
        agent_chose = "CUDA_VISIBLE_DEVICES" in (spec.env or {})
        if spec.gpus == 0 and not agent_chose:
            env["CUDA_VISIBLE_DEVICES"] = ""  # gpus=0 means CPU only
        elif spec.gpus and not agent_chose and self.gpu_snapshot is not None:
            chosen = pick_gpus(self.gpu_snapshot(), spec.gpus, base)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, chosen))
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # CUDA numbers devices as NVML does
        command = build_command(self.python, spec.script, spec.args, gpus=spec.gpus,
                                accelerate=spec.accelerate, launcher=spec.launcher)  # fmt: skip
        handle = start_local(spec.job_dir, command, cwd=spec.workspace, env=env)
        handle.gpu_ids = env.get("CUDA_VISIBLE_DEVICES") if spec.gpus is not None else None
        return handle

    def reattach(self, row: dict[str, Any], job_dir: Path) -> Any:
        if row.get("pid") and _same_process(row):
            handle = LocalHandle(int(row["pid"]), int(row.get("pgid") or row["pid"]), job_dir / "exit_code")
            handle.gpu_ids = (row.get("started") or {}).get("cuda_visible_devices")
            return handle
        if row.get("pid"):  # its PID is free or belongs to another program now: never signal it
            code = read_exit_code(job_dir / "exit_code")
            if code is not None:
                return ExitedHandle(code)
            return GoneHandle(
                "the job's process is gone (intern-tui was not running, or the machine restarted) and left "
                "no exit code"
            )
        return GoneHandle("the job has no recorded process id")  # its end must still be recorded

    def estimate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        from .costs import estimate_local

        gpus = arguments.get("gpus")
        return estimate_local(arguments, self.free_gpus() if isinstance(gpus, int) and gpus > 0 else None)


def _same_process(row: dict[str, Any]) -> bool:
    """Is the recorded PID still the job's wrapper? Jobs recorded without an identity (older sessions) or
    from an imported log can't be verified and are not trusted."""
    try:
        pid = int(row["pid"])
    except (TypeError, ValueError):
        return False
    recorded = row.get("proc_id")
    return recorded is not None and process.process_identity(pid) == recorded
