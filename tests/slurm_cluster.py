"""A real single-node Slurm cluster for tests: slurmctld + slurmd in the foreground, in a temp dir.

The node is this machine; `auth/none` and `cred/none` (Slurm 22.05 still ships them) spare us munge,
`proctrack/linuxproc` + `task/none` spare us cgroups, two GPUs are device files Slurm hands out as
`gres/gpu` (so `--gres=gpu:2` is scheduled and `CUDA_VISIBLE_DEVICES` set as on a GPU node), no accounting database (sacct answers that
accounting is disabled, as on small clusters: the backend falls back to scontrol and the exit-code file).
`start_cluster` returns None with the reason when it can't run here (no binaries, not root, daemons that
don't come up), so tests skip with that reason instead of failing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")

CONF = """\
ClusterName=interntui
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/none
CredType=cred/none
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
GresTypes=gpu
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
MinJobAge=600
KillWait=2
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


# Two "GPUs" for `--gres=gpu:N`: Slurm only needs device files to hand out, and sets CUDA_VISIBLE_DEVICES.
GRES = "NodeName={host} Name=gpu File=/dev/null\nNodeName={host} Name=gpu File=/dev/zero\n"


@dataclass
class Cluster:
    root: Path
    conf: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_reason() -> str | None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (
            f"Slurm is not installed ({', '.join(missing)} missing): `apt-get install slurmctld slurmd "
            "slurm-client` to run the real-cluster tests"
        )
    if os.geteuid() != 0:
        return "the single-node Slurm test cluster needs root (slurmd starts jobs as their user)"
    return None


def start_cluster(root: Path, timeout: float = 30.0) -> tuple[Cluster | None, str | None]:
    """Start the cluster under `root`; (cluster, None) once its node is idle, else (None, why)."""
    if (why := missing_reason()) is not None:
        return None, why
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        CONF.format(
            host=host,
            root=root,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            user="root",
            cpus=os.cpu_count() or 1,
        ),  # fmt: skip
        encoding="utf-8",
    )
    (root / "gres.conf").write_text(GRES.format(host=host), encoding="utf-8")  # read from beside slurm.conf
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(root, conf)
    for argv in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
        cluster.procs.append(
            subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )  # fmt: skip
        )
        time.sleep(0.3)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in cluster.procs):
            break
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip() in ("idle", "mixed", "allocated"):
            return cluster, None
        time.sleep(0.2)
    logs = cluster.logs()
    cluster.stop()
    return None, "the single-node Slurm cluster did not come up:\n" + logs
