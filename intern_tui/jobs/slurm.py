"""The Slurm runner: submit a workspace script with `sbatch`, follow it with `squeue`/`sacct`, stop it with
`scancel`.

The batch script (`jobs/<id>/slurm.sh`) writes the job's output straight into `jobs/<id>/log.txt`
(`--output`, so the workspace must be on a filesystem the compute nodes share, as home directories on
clusters are) and records the exit code in `jobs/<id>/exit_code`, like a local job. Status comes from
`squeue -t all` while the controller remembers the job, then from `sacct` (accounting), then from
`scontrol show job`, then from the exit-code file; a job none of them knows is `lost`. Everything needed
to follow a job again after a restart is its Slurm job id (the `remote_id` of `job_started`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ToolError
from .local import Outcome, outcome_from_exit_code, read_exit_code

log = logging.getLogger(__name__)

QUEUED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED",
          "PREEMPTED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "SPECIAL_EXIT"}  # fmt: skip
RUNNING = {"RUNNING", "COMPLETING"}
FAILED = {"FAILED", "NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "DEADLINE", "TIMEOUT", "REVOKED"}
TERMINAL = FAILED | {"COMPLETED", "CANCELLED"}
SQUEUE_FORMAT = "%i|%T|%r|%N|%M"
SACCT_FIELDS = "JobID,State,ExitCode,Elapsed,NodeList"
MISSING_LIMIT = 3  # consecutive looks that find the job nowhere before it is called lost


@dataclass
class SlurmState:
    """What Slurm says about a job: its state, and where known the exit code, reason and nodes."""

    state: str
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    nodes: str | None = None
    source: str = "squeue"


# -- parsing (pure functions; tests/test_jobs_slurm.py feeds them recorded outputs) ------------------


def parse_sbatch(text: str) -> str:
    """The job id from `sbatch --parsable` ("1234" or "1234;cluster")."""
    for line in text.strip().splitlines()[::-1]:
        head = line.strip().split(";")[0]
        if head.isdigit():
            return head
    raise ToolError(f"sbatch answered without a job id: {text.strip()[:200]!r}")


def _state(value: str) -> str:
    """`CANCELLED by 1000` and `CANCELLED+` are CANCELLED."""
    return value.strip().split(" ")[0].rstrip("+").upper()


def _exit(value: str) -> tuple[int | None, int | None]:
    """sacct/scontrol `ExitCode=code:signal`."""
    code, _, sig = value.strip().partition(":")
    try:
        return int(code), int(sig) if sig else None
    except ValueError:
        return None, None


def parse_squeue(text: str, job_id: str) -> SlurmState | None:
    """The job's line of `squeue -h -t all -o '%i|%T|%r|%N|%M'` (an array job's first task line)."""
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) >= 2 and fields[0].split("_")[0] == job_id:
            reason = fields[2] if len(fields) > 2 and fields[2] not in ("", "None") else None
            nodes = fields[3] if len(fields) > 3 and fields[3] else None
            return SlurmState(_state(fields[1]), reason=reason, nodes=nodes)
    return None


def parse_sacct(text: str, job_id: str) -> SlurmState | None:
    """The allocation's line of `sacct -n -P -X -j ID -o JobID,State,ExitCode,Elapsed,NodeList` (steps such
    as `ID.batch` are skipped)."""
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) >= 3 and fields[0] == job_id:
            code, sig = _exit(fields[2])
            nodes = fields[4] if len(fields) > 4 and fields[4] not in ("", "None assigned") else None
            return SlurmState(_state(fields[1]), code, sig, nodes=nodes, source="sacct")
    return None


def parse_scontrol(text: str) -> SlurmState | None:
    """`scontrol show job -o ID`: one line of Key=Value pairs."""
    pairs = {}
    for token in text.split():
        key, eq, value = token.partition("=")
        if eq and key not in pairs:
            pairs[key] = value
    if "JobState" not in pairs:
        return None
    code, sig = _exit(pairs.get("ExitCode", ""))
    reason = pairs.get("Reason")
    nodes = pairs.get("NodeList")
    return SlurmState(
        _state(pairs["JobState"]),
        code,
        sig,
        reason=None if reason in (None, "None") else reason,
        nodes=None if nodes in (None, "(null)") else nodes,
        source="scontrol",
    )


def outcome_of(info: SlurmState, exit_file_code: int | None) -> Outcome:
    """How a finished job ended. The exit-code file (written by our batch script) wins over Slurm's."""
    state = info.state
    code = exit_file_code if exit_file_code is not None else info.exit_code
    if state == "CANCELLED":
        return Outcome("canceled", code, "canceled on Slurm (scancel)")
    if state == "TIMEOUT":
        return Outcome("failed", code, "the job hit its Slurm time limit (--time) and was stopped")
    if state == "OUT_OF_MEMORY":
        return Outcome("failed", code, "Slurm stopped the job: out of host memory (ask for more with --mem)")
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return Outcome("failed", code, f"the job's node failed ({state}); resubmit it")
    if state == "COMPLETED" and not code:
        return Outcome("completed", 0)
    if code is not None:
        return outcome_from_exit_code(code)
    return Outcome("failed", None, f"the job ended on Slurm as {state}: {info.reason or 'see its log'}")


def time_limit(timeout: float | None) -> str | None:
    """`--time` in minutes (Slurm rounds up anyway)."""
    return str(max(1, math.ceil(timeout / 60))) if timeout else None


# -- the batch script --------------------------------------------------------------------------------


def batch_script(
    *,
    command: list[str],
    job_dir: Path,
    workspace: Path,
    name: str,
    nodes: int,
    gpus: int,
    timeout: float | None,
    partition: str | None,
    account: str | None,
    extra: list[str] | tuple[str, ...] = (),
) -> str:
    """The sbatch script: resources as `#SBATCH` lines, the command, the exit code recorded."""
    # The job's name and its paths (which may hold spaces) are given on sbatch's command line
    # (`sbatch_argv`); these lines carry only the resources.
    lines = ["#!/bin/sh", f"#SBATCH --job-name={job_name(name)}", "#SBATCH --open-mode=append",
             f"#SBATCH --nodes={nodes}",
             "#SBATCH --ntasks-per-node=1"]  # fmt: skip
    if gpus:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    if (minutes := time_limit(timeout)) is not None:
        lines.append(f"#SBATCH --time={minutes}")
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if account:
        lines.append(f"#SBATCH --account={account}")
    lines += [f"#SBATCH {arg}" for arg in extra]
    exit_file = job_dir / "exit_code"
    q = shlex.quote
    lines += [
        "",
        f"cd {q(str(workspace))} || exit 1",
        'export INTERN_TUI_SLURM_JOB_ID="$SLURM_JOB_ID"',
        " ".join(q(c) for c in command),
        "code=$?",
        f'printf "%s\\n" "$code" > {q(str(exit_file))}.tmp && mv -f {q(str(exit_file))}.tmp {q(str(exit_file))}',
        'exit "$code"',
        "",
    ]
    return "\n".join(lines)


def job_name(name: str) -> str:
    """A Slurm job name: no spaces or shell/directive specials ("eval tiny-arith" → "eval-tiny-arith")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:120] or "intern-tui"


def sbatch_argv(script: Path, job_dir: Path, workspace: Path) -> list[str]:
    """The sbatch command: output to the job's log, working directory the workspace, environment exported."""
    return ["sbatch", "--parsable", "--export=ALL", f"--output={job_dir / 'log.txt'}", f"--chdir={workspace}",
            str(script)]  # fmt: skip


def slurm_command(python: str, script: Path, args: list[str], *, nodes: int, gpus: int,
                  launcher: str | None, accelerate: bool) -> list[str]:  # fmt: skip
    """What the batch script runs: the script alone, a one-node launcher, or `srun` + torchrun per node."""
    from .local import build_command

    if nodes <= 1:
        return build_command(
            python, script, args, gpus=gpus or None, accelerate=accelerate, launcher=launcher
        )
    # One torchrun per node (srun), rendezvous at the first node of the allocation, on a port derived from
    # the Slurm job id so two jobs sharing a head node don't meet each other.
    rendezvous = ('head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); '
                  'port=$((29500 + SLURM_JOB_ID % 1000)); py="$1"; shift; '
                  'exec "$py" -m torch.distributed.run --rdzv_endpoint "$head:$port" --rdzv_id "$SLURM_JOB_ID" "$@"')  # fmt: skip
    return ["srun", "--kill-on-bad-exit=1", "sh", "-c", rendezvous, "intern-tui-srun", python,
            "--nnodes", str(nodes), "--nproc_per_node", str(max(gpus, 1)), "--rdzv_backend", "c10d",
            str(script), *args]  # fmt: skip


# -- running the Slurm client commands ---------------------------------------------------------------


def run_slurm(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a missing binary is one clear ToolError."""
    if shutil.which(argv[0], path=(env or os.environ).get("PATH")) is None:
        raise ToolError(
            f"Slurm is not available here: no `{argv[0]}` on PATH. Install the Slurm client and set "
            "SLURM_CONF, or launch with backend='local' or 'hf'."
        )
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{argv[0]}` did not answer within {timeout:.0f} s (is slurmctld up?)") from None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


class SlurmHandle:
    """A job on Slurm: its state by polling squeue (then sacct/scontrol), its log written by the node."""

    backend = "slurm"
    pid = None
    pgid = None
    url = None
    flavor = None

    def __init__(self, remote_id: str, job_dir: Path, *, nodes: int = 1, gpus: int = 0,
                 partition: str | None = None, status_interval: float = 5.0) -> None:  # fmt: skip
        self.remote_id = remote_id
        self.job_dir = job_dir
        self.nodes = nodes
        self.gpus = gpus
        self.partition = partition
        self.status_interval = status_interval
        self.stage = "PENDING"
        self.state: SlurmState | None = None
        self._last_poll = float("-inf")
        self._missing = 0
        self._outcome: Outcome | None = None

    def status_fields(self) -> dict[str, Any]:
        st = self.state
        return {"remote_id": self.remote_id, "stage": self.stage, "slurm_state": st.state if st else None,
                "reason": st.reason if st else None, "nodelist": st.nodes if st else None,
                "nodes": self.nodes, "gpus_per_node": self.gpus, "partition": self.partition}  # fmt: skip

    def lookup(self) -> SlurmState | None:
        """Ask Slurm about the job. None: no source knows it. A controller that doesn't answer raises."""
        jid = self.remote_id
        res = run_slurm(["squeue", "-h", "-t", "all", "-j", jid, "-o", SQUEUE_FORMAT])
        if res.returncode == 0 and (found := parse_squeue(res.stdout, jid)) is not None:
            return found
        if res.returncode != 0 and "invalid job id" not in res.stderr.lower():
            raise ToolError(f"squeue failed: {_first_line(res.stderr)}")
        if shutil.which("sacct"):
            res = run_slurm(["sacct", "-n", "-P", "-X", "-j", jid, "-o", SACCT_FIELDS])
            if res.returncode == 0 and (found := parse_sacct(res.stdout, jid)) is not None:
                return found
        res = run_slurm(["scontrol", "show", "job", "-o", jid])
        if res.returncode == 0:
            return parse_scontrol(res.stdout)
        return None

    def poll(self) -> Outcome | None:
        if self._outcome is not None:
            return self._outcome
        now = time.monotonic()
        if now - self._last_poll < self.status_interval:
            return None
        self._last_poll = now
        try:
            info = self.lookup()
        except ToolError as exc:  # the controller is busy or restarting: look again later
            log.warning("slurm job %s: %s", self.remote_id, exc)
            return None
        code = read_exit_code(self.job_dir / "exit_code")
        if info is None:
            self._missing += 1
            if code is not None:
                self._outcome = outcome_from_exit_code(code)
            elif self._missing >= MISSING_LIMIT:
                self._outcome = Outcome(
                    "lost", None, f"Slurm no longer knows job {self.remote_id} and it left no exit code"
                )
            return self._outcome
        self._missing = 0
        self.state = info
        if info.state in RUNNING:
            self.stage = "RUNNING"
        elif info.state not in TERMINAL:
            self.stage = "PENDING"
        if info.state not in TERMINAL:
            return None
        self.stage = info.state
        self._outcome = outcome_of(info, code)
        return self._outcome

    def running(self) -> bool:
        return self._outcome is None

    def cancel(self, grace: float = 0.0) -> str:
        res = run_slurm(["scancel", self.remote_id])
        if res.returncode != 0:
            raise ToolError(f"scancel {self.remote_id} failed: {_first_line(res.stderr)}")
        self._last_poll = float("-inf")  # look at the state again right away
        return "requested"

    def close(self) -> None:
        pass


class SlurmBackend:
    """Slurm clusters, through the client commands. Settings from config.toml `[slurm]`: `partition`,
    `account`, `python` (the interpreter on the compute nodes; default this one), `sbatch_args` (extra
    `#SBATCH` lines), `gpu_hour_usd` and `node_hour_usd` (the cost estimate), `status_interval`."""

    name = "slurm"

    def __init__(self, python: str, settings: dict[str, Any] | None = None, *,
                 env_allow: list[str] | tuple[str, ...] = (), status_interval: float | None = None) -> None:  # fmt: skip
        self.settings = dict(settings or {})
        self.python = str(self.settings.get("python") or python)
        self.env_allow = tuple(env_allow)
        self.status_interval = float(
            status_interval if status_interval is not None else self.settings.get("status_interval", 5.0)
        )

    def launch(self, spec: Any) -> SlurmHandle:
        from .local import LAUNCHERS, child_env

        nodes, gpus = spec.nodes or 1, spec.gpus or 0
        if spec.launcher not in LAUNCHERS:
            raise ToolError("launcher must be 'accelerate' or 'torchrun' (or None)")
        partition = spec.partition or self.settings.get("partition")
        extra = self.settings.get("sbatch_args") or []
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise ToolError("[slurm] sbatch_args must be a list of strings, e.g. ['--qos=normal']")
        spec.job_dir.mkdir(parents=True, exist_ok=True)
        (spec.job_dir / "output").mkdir(exist_ok=True)
        spec.log_path.touch()
        command = slurm_command(self.python, spec.script, spec.args, nodes=nodes, gpus=gpus,
                                launcher=spec.launcher, accelerate=spec.accelerate)  # fmt: skip
        text = batch_script(command=command, job_dir=spec.job_dir, workspace=spec.workspace,
                            name=spec.name or f"intern-tui-{spec.job_id}", nodes=nodes, gpus=gpus,
                            timeout=spec.timeout, partition=partition, account=self.settings.get("account"),
                            extra=extra)  # fmt: skip
        path = spec.job_dir / "slurm.sh"
        path.write_text(text, encoding="utf-8")
        # The job inherits sbatch's environment (--export=ALL): the same allow-listed one a local job
        # gets, plus what the client itself needs to find the cluster.
        base = dict(os.environ)
        env = child_env(base, spec.env, spec.job_id, spec.job_dir, secrets=spec.secrets,
                        extra_allow=self.env_allow)  # fmt: skip
        env.update({k: v for k, v in base.items() if k in ("SLURM_CONF", "SLURM_CLUSTERS")})
        res = run_slurm(sbatch_argv(path, spec.job_dir, spec.workspace), env=env)
        if res.returncode != 0:
            why = _first_line(res.stderr or res.stdout)
            hint = ""
            if "configuration source" in why or "contact slurm controller" in why.lower():
                hint = " (is this a Slurm login node? set SLURM_CONF to the cluster's slurm.conf)"
            raise ToolError(f"sbatch refused the job: {why}{hint}")
        remote_id = parse_sbatch(res.stdout)
        _write_meta(spec.job_dir, remote_id, command)
        return SlurmHandle(remote_id, spec.job_dir, nodes=nodes, gpus=gpus, partition=partition,
                           status_interval=self.status_interval)  # fmt: skip

    def reattach(self, row: dict[str, Any], job_dir: Path) -> SlurmHandle:
        started = row.get("started") or {}
        if shutil.which("squeue") is None:  # listed, with the reason, instead of polled in vain
            raise ToolError("Slurm is not available here (no `squeue` on PATH): the job can't be followed")
        remote_id = str(row.get("remote_id") or started.get("remote_id") or "")
        if not remote_id:
            from .local import GoneHandle

            return GoneHandle("the Slurm job id was not recorded")  # type: ignore[return-value]
        return SlurmHandle(remote_id, job_dir, nodes=int(started.get("nodes") or 1),
                           gpus=int(started.get("gpus") or 0), partition=started.get("partition"),
                           status_interval=self.status_interval)  # fmt: skip

    def estimate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        from .costs import estimate_slurm

        return estimate_slurm(arguments, self.settings)


def _write_meta(job_dir: Path, remote_id: str, command: list[str]) -> None:
    import json

    try:
        (job_dir / "job.json").write_text(
            json.dumps({"slurm_job_id": remote_id, "command": command, "started_at": time.time()}, indent=2)
            + "\n",
            encoding="utf-8",
        )
    except OSError:
        pass
