"""The Slurm backend: parsers on recorded outputs (everywhere), and whole jobs on a real single-node Slurm
cluster the tests start (slurm_cluster.py; skipped with the reason where Slurm can't run)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from helpers import running_store
from slurm_cluster import start_cluster

from intern_tui.bus import Emitter
from intern_tui.jobs import JobManager, recover_jobs
from intern_tui.jobs.costs import estimate_slurm
from intern_tui.jobs.slurm import (
    SlurmState,
    batch_script,
    job_name,
    outcome_of,
    parse_sacct,
    parse_sbatch,
    parse_scontrol,
    parse_squeue,
    slurm_command,
    time_limit,
)
from intern_tui.store.queries import iter_events
from intern_tui.tools.base import ToolError

FAST = {"poll_interval": 0.05, "hold_seconds": 0.2, "cancel_grace": 2.0, "slurm_status_interval": 0.2}

# Recorded from Slurm 22.05 (squeue/sacct with the backend's format strings, scontrol -o).
SQUEUE = "41|RUNNING|None|vm|0:03\n42|PENDING|Resources||0:00\n43_1|PENDING|Priority||0:00\n"
SACCT = (
    "57|CANCELLED by 0|0:15|00:00:07|gpu-node-03\n"
    "58|FAILED|3:0|00:01:02|gpu-node-[01-02]\n"
    "59|TIMEOUT|0:0|00:10:00|gpu-node-04\n"
    "60|PENDING|0:0|00:00:00|None assigned\n"
)
SCONTROL = (
    "JobId=1 JobName=j.sh UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 "
    "Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 "
    "Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:01 TimeLimit=UNLIMITED TimeMin=N/A "
    "SubmitTime=2026-12-04T19:26:18 Partition=debug AllocNode:Sid=vm:2088 ReqNodeList=(null) "
    "NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 TRES=cpu=1,node=1,billing=1 "
    "Command=/tmp/be-slurm/j.sh WorkDir=/tmp/be-slurm StdErr=/tmp/be-slurm/out-1.txt StdIn=/dev/null"
)


# -- recorded outputs ---------------------------------------------------------------------------------


def test_parse_sbatch_parsable():
    assert parse_sbatch("1234\n") == "1234"
    assert parse_sbatch("1234;cluster-a\n") == "1234"
    assert parse_sbatch("sbatch: warning: something\n77\n") == "77"
    with pytest.raises(ToolError, match="without a job id"):
        parse_sbatch("Submitted batch job\n")


def test_parse_squeue_lines():
    assert parse_squeue(SQUEUE, "41") == SlurmState("RUNNING", nodes="vm")
    assert parse_squeue(SQUEUE, "42") == SlurmState("PENDING", reason="Resources")
    assert parse_squeue(SQUEUE, "43").state == "PENDING"  # an array task's line
    assert parse_squeue(SQUEUE, "4") is None and parse_squeue("", "41") is None


def test_parse_sacct_lines():
    canceled = parse_sacct(SACCT, "57")
    assert (canceled.state, canceled.exit_code, canceled.signal, canceled.source) == (
        "CANCELLED",
        0,
        15,
        "sacct",
    )
    failed = parse_sacct(SACCT, "58")
    assert (failed.state, failed.exit_code, failed.nodes) == ("FAILED", 3, "gpu-node-[01-02]")
    assert parse_sacct(SACCT, "60").nodes is None
    assert parse_sacct("58.batch|FAILED|3:0|00:01:02|n1\n", "58") is None  # steps are not the job


def test_parse_scontrol_line():
    info = parse_scontrol(SCONTROL)
    assert (info.state, info.exit_code, info.reason, info.nodes) == ("FAILED", 3, "NonZeroExitCode", "vm")
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified") is None


def test_outcomes():
    assert outcome_of(SlurmState("COMPLETED", 0), None).status == "completed"
    failed = outcome_of(SlurmState("FAILED", 3), None)
    assert (failed.status, failed.exit_code) == ("failed", 3) and "code 3" in failed.error
    assert outcome_of(SlurmState("COMPLETED", 0), 2).exit_code == 2  # our exit-code file wins
    assert outcome_of(SlurmState("CANCELLED", 0, 15), None).status == "canceled"
    assert "time limit" in outcome_of(SlurmState("TIMEOUT"), None).error
    assert "node failed" in outcome_of(SlurmState("NODE_FAIL"), None).error


def test_batch_script_asks_for_the_resources_and_records_the_exit_code(tmp_path):
    job_dir, ws = tmp_path / "jobs" / "job-1", tmp_path
    job_dir.mkdir(parents=True)
    text = batch_script(command=["sh", "-c", "echo hi; exit 4"], job_dir=job_dir, workspace=ws, name="intern-tui-job-1",
                        nodes=2, gpus=4, timeout=5400, partition="gpu", account="lab", extra=["--qos=high"])  # fmt: skip
    for line in ("#SBATCH --nodes=2", "#SBATCH --gres=gpu:4", "#SBATCH --time=90", "#SBATCH --partition=gpu",
                 "#SBATCH --account=lab", "#SBATCH --qos=high", "#SBATCH --job-name=intern-tui-job-1"):  # fmt: skip
        assert line in text.splitlines()
    # The script itself is plain sh: run it here, as slurmd would.
    (job_dir / "slurm.sh").write_text(text)
    res = subprocess.run(["sh", str(job_dir / "slurm.sh")], capture_output=True, text=True)
    assert res.returncode == 4 and res.stdout == "hi\n" and (job_dir / "exit_code").read_text() == "4\n"
    assert time_limit(None) is None and time_limit(30) == "1"
    assert job_name("eval tiny-arith") == "eval-tiny-arith" and job_name("  ") == "intern-tui"


def test_multi_node_command_runs_one_torchrun_per_node(tmp_path):
    cmd = slurm_command("py", Path("/ws/t.py"), ["--a"], nodes=2, gpus=8, launcher=None, accelerate=False)
    assert cmd[:2] == ["srun", "--kill-on-bad-exit=1"]
    assert cmd[cmd.index("--nnodes") + 1] == "2" and cmd[cmd.index("--nproc_per_node") + 1] == "8"
    assert cmd[-2:] == ["/ws/t.py", "--a"]
    one = slurm_command("py", Path("/ws/t.py"), [], nodes=1, gpus=1, launcher=None, accelerate=False)
    assert one == ["py", "/ws/t.py"]
    # What srun runs on each node, with a stand-in python and scontrol: the rendezvous is the first node,
    # on a port of this job's own.
    for name, body in (("py", 'echo "$@"'), ("scontrol", "echo node07; echo node08")):
        (tmp_path / name).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / name).chmod(0o755)
    cmd = slurm_command(str(tmp_path / "py"), Path("/ws/t.py"), ["--a", "b c"], nodes=2, gpus=4,
                        launcher=None, accelerate=False)  # fmt: skip
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SLURM_JOB_NODELIST": "node[07-08]", "SLURM_JOB_ID": "1234"}
    res = subprocess.run(cmd[2:], env=env, capture_output=True, text=True)
    assert res.stdout.split() == ["-m", "torch.distributed.run", "--rdzv_endpoint", "node07:29734", "--rdzv_id",
                                  "1234", "--nnodes", "2", "--nproc_per_node", "4", "--rdzv_backend", "c10d",
                                  "/ws/t.py", "--a", "b", "c"]  # fmt: skip


def test_cost_estimate_is_rates_times_nodes_gpus_hours():
    rates = {"gpu_hour_usd": 2.0, "node_hour_usd": 1.0, "partition": "gpu"}
    est = estimate_slurm({"backend": "slurm", "nodes": 2, "gpus": 4, "timeout": 5400}, rates)
    assert est["gpu_hours"] == 12.0 and est["usd"] == 27.0  # 1.5 h × 2 × (4 × $2 + $1)
    assert "Slurm partition gpu: 2 node(s) × 4 GPU(s)" in est["summary"] and "$27.00" in est["summary"]
    unknown = estimate_slurm({"backend": "slurm", "gpus": 1})
    assert unknown["usd"] is None and "gpu_hour_usd" in unknown["summary"] and unknown["gpu_hours"] == 2.0


def test_without_slurm_it_is_one_clear_error(session, monkeypatch, tmp_path):
    _, _, emitter, ws = session
    (ws / "t.py").write_text("print(1)\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolError, match="Slurm is not available here: no `sbatch` on PATH"):
        JobManager(ws, emitter, **FAST).launch("t.py", backend="slurm")


def test_slurm_only_options_are_refused_elsewhere(session):
    _, _, emitter, ws = session
    (ws / "t.py").write_text("print(1)\n")
    manager = JobManager(ws, emitter, **FAST)
    with pytest.raises(ToolError, match="nodes=2 needs backend='slurm'"):
        manager.launch("t.py", nodes=2)
    with pytest.raises(ToolError, match="partition= is a Slurm partition"):
        manager.launch("t.py", partition="gpu")
    with pytest.raises(ToolError, match="nodes must be"):
        manager.launch("t.py", backend="slurm", nodes=0)
    with pytest.raises(ToolError, match="launcher must be 'accelerate' or 'torchrun', not 'mpirun'"):
        manager.launch("t.py", launcher="mpirun")
    with pytest.raises(ToolError, match="pick a multi-GPU flavor"):
        manager.launch("t.py", backend="hf", launcher="torchrun")
    assert manager.job_ids() == []


def fake_client(tmp_path: Path, answers: dict[str, tuple[int, str, str]]) -> Path:
    """Slurm client commands that answer with recorded (exit code, stdout, stderr)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, (code, out, err) in answers.items():
        (bin_dir / f"{name}.out").write_text(out)
        (bin_dir / f"{name}.err").write_text(err)
        (bin_dir / name).write_text(
            f'#!/bin/sh\n/bin/cat "{bin_dir}/{name}.out"; /bin/cat "{bin_dir}/{name}.err" >&2; exit {code}\n'
        )
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_handle_follows_the_sources_in_order(tmp_path, monkeypatch):
    from intern_tui.jobs.slurm import SlurmHandle

    invalid = (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    monkeypatch.setenv("PATH", str(fake_client(tmp_path, {"squeue": (0, "58|RUNNING|None|n1|0:10\n", "")})))
    handle = SlurmHandle("58", job_dir, status_interval=0)
    assert handle.poll() is None and handle.stage == "RUNNING"
    # the controller is restarting: keep waiting, don't call the job lost
    fake_client(tmp_path, {"squeue": (1, "", "slurm_load_jobs error: Unable to contact slurm controller\n")})
    assert handle.poll() is None and handle.running()
    # gone from squeue; accounting knows how it ended
    fake_client(tmp_path, {"squeue": invalid, "sacct": (0, SACCT, "")})
    out = handle.poll()
    assert (out.status, out.exit_code) == ("failed", 3) and handle.state.source == "sacct"
    assert handle.status_fields()["nodelist"] == "gpu-node-[01-02]"


def test_a_purged_job_ends_with_its_exit_code_file_or_as_lost(tmp_path, monkeypatch):
    from intern_tui.jobs.slurm import MISSING_LIMIT, SlurmHandle

    invalid = (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    bin_dir = fake_client(tmp_path, {"squeue": invalid, "scontrol": invalid,
                                     "sacct": (1, "", "Slurm accounting storage is disabled\n")})  # fmt: skip
    monkeypatch.setenv("PATH", str(bin_dir))
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "exit_code").write_text("0\n")
    assert SlurmHandle("9", job_dir, status_interval=0).poll().status == "completed"
    (job_dir / "exit_code").unlink()
    handle = SlurmHandle("9", job_dir, status_interval=0)
    assert [handle.poll() for _ in range(MISSING_LIMIT - 1)] == [None] * (MISSING_LIMIT - 1)
    lost = handle.poll()
    assert lost.status == "lost" and "no longer knows job 9" in lost.error


# -- a real cluster -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster, why = start_cluster(tmp_path_factory.mktemp("slurm"))
    if cluster is None:
        pytest.skip(why)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
    cluster.stop()


@pytest.fixture
def session(home, tmp_path):
    with running_store(home) as (store, bus, writer):
        emitter = Emitter(bus, "s1")
        emitter.emit("session_started", {"task": "slurm", "model": "script:x"})
        ws = tmp_path / "ws"
        ws.mkdir()
        yield store, writer, emitter, ws


def events(store, writer, kind):
    writer.flush()
    conn = store.connect()
    try:
        return [e.payload for e in iter_events(conn, "s1", kinds=[kind])]
    finally:
        conn.close()


def write(ws: Path, name: str, body: str) -> str:
    (ws / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def test_slurm_job_runs_streams_its_log_and_reports_its_exit_code(slurm, session):
    store, writer, emitter, ws = session
    write(ws, "train.py", """
        import os, sys
        print("slurm job", os.environ["SLURM_JOB_ID"], "ours", os.environ["INTERN_TUI_JOB_ID"])
        print("cwd", os.getcwd())
        print("{'loss': 2.0, 'epoch': 0.5}")
        print("{'loss': 1.0, 'epoch': 1.0}")
        sys.exit(int(sys.argv[1]))
    """)  # fmt: skip
    manager = JobManager(ws, emitter, **FAST)
    ok = manager.launch("train.py", backend="slurm", args=["0"], timeout=600)
    bad = manager.launch("train.py", backend="slurm", args=["3"])
    done = manager.wait(ok, timeout=60)
    assert done["status"] == "completed" and done["exit_code"] == 0, done
    failed = manager.wait(bad, timeout=60)
    assert failed["status"] == "failed" and failed["exit_code"] == 3 and "code 3" in failed["error"]

    started = {p["job_id"]: p for p in events(store, writer, "job_started")}
    remote = started[ok]["remote_id"]
    assert started[ok]["backend"] == "slurm" and remote.isdigit() and started[ok]["nodes"] == 1
    assert done["remote_id"] == remote and done["backend"] == "slurm" and done["nodes"] == 1
    lines = [ln for p in events(store, writer, "job_log") if p["job_id"] == ok for ln in p["lines"]]
    assert lines[:2] == [f"slurm job {remote} ours {ok}", f"cwd {ws.resolve()}"]
    metrics = [m for m in events(store, writer, "job_metric") if m["job_id"] == ok]
    assert [m["values"]["loss"] for m in metrics] == [2.0, 1.0]
    assert "#SBATCH --time=10" in (ws / "jobs" / ok / "slurm.sh").read_text()
    conn = store.connect()
    assert conn.execute("SELECT status, remote_id FROM jobs WHERE id = ?", (ok,)).fetchone() == (
        "completed",
        remote,
    )
    conn.close()
    manager.shutdown()


def test_slurm_cancel(slurm, session):
    store, writer, emitter, ws = session
    write(ws, "sleepy.py", "import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    manager = JobManager(ws, emitter, **FAST)
    job = manager.launch("sleepy.py", backend="slurm")
    log = ws / "jobs" / job / "log.txt"
    deadline = time.monotonic() + 30
    while b"up" not in log.read_bytes():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    status = manager.cancel(job)
    assert status["status"] == "canceled", status
    res = subprocess.run(
        ["squeue", "-h", "-j", status["remote_id"], "-o", "%T"], capture_output=True, text=True
    )
    assert res.stdout.strip() in ("", "CANCELLED")
    manager.shutdown()


def test_slurm_job_is_reattached_after_a_restart(slurm, session):
    store, writer, emitter, ws = session
    write(ws, "slow.py", """
        import sys, time
        for i in range(6):
            print(f"tick {i}", flush=True)
            time.sleep(0.3)
    """)  # fmt: skip
    first = JobManager(ws, emitter, **FAST)
    job = first.launch("slow.py", backend="slurm")
    log = ws / "jobs" / job / "log.txt"
    deadline = time.monotonic() + 30
    while b"tick 1" not in log.read_bytes():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    first.shutdown()  # intern-tui goes away; the Slurm job goes on
    writer.flush()
    second = JobManager(ws, emitter, **FAST)
    conn = store.connect()
    try:
        assert recover_jobs(conn, "s1", second) == [job]
    finally:
        conn.close()
    status = second.wait(job, timeout=60)
    assert status["status"] == "completed" and status["exit_code"] == 0
    lines = [ln for p in events(store, writer, "job_log") if p["job_id"] == job for ln in p["lines"]]
    assert lines == [f"tick {i}" for i in range(6)]  # nothing lost, nothing repeated
    second.shutdown()


def test_sbatch_refusal_is_one_clear_error(slurm, session):
    _, _, emitter, ws = session
    write(ws, "t.py", "print(1)\n")
    manager = JobManager(ws, emitter, **FAST)
    with pytest.raises(ToolError, match="sbatch refused the job: sbatch: error: .*"):
        manager.launch("t.py", backend="slurm", gpus=3)  # the test node has two
    assert manager.job_ids() == []


def test_slurm_launch_through_the_tool_is_priced_and_counted_by_the_budget(slurm, session):
    from intern_tui.agent.approvals import ApprovalQueue, Budget, describe
    from intern_tui.tools import ToolContext, ToolGate

    store, writer, emitter, ws = session
    write(ws, "t.py", "print('priced')\n")
    rates = {"gpu_hour_usd": 2.5, "node_hour_usd": 3.0, "partition": "debug"}
    manager = JobManager(ws, emitter, slurm=rates, **FAST)
    queue = ApprovalQueue(emitter, policy="all", budget=Budget(usd=10.0, gpu_hours=1.0))
    gate = ToolGate(
        ToolContext(session_id="s1", workspace=ws, emitter=emitter, approvals=queue, jobs=manager)
    )
    job = gate.invoke("launch_job", ("t.py",), {"backend": "slurm", "timeout": 3600})
    assert manager.wait(job, timeout=60)["status"] == "completed"
    assert queue.budget.spent_usd == 3.0  # 1 h × 1 node × $3/node-h
    with pytest.raises(Exception, match=r"over the dollar budget \(\$3.00 \+ \$9.00 > \$10\)"):
        gate.invoke("launch_job", ("t.py",), {"backend": "slurm", "timeout": 3 * 3600})
    with pytest.raises(Exception, match="over the GPU-hour budget"):
        gate.invoke("launch_job", ("t.py",), {"backend": "slurm", "gpus": 2, "nodes": 2, "timeout": 1200})
    asked = [e.payload for e in (stored_events(store, writer, "approval_requested"))]
    first = describe(asked[0])
    assert first[1] == "  backend slurm · 0 GPUs · ≤1 h · 0 GPU-h · $3.00"  # the facts line first
    assert (
        first[2]
        == "  cost: Slurm partition debug: 1 node(s) × 0 GPU(s) for up to 1 h: 0 GPU-hours, about $3.00 ($2.50/GPU-h + $3.00/node-h)"
    )
    third = describe(asked[2])
    assert third[1].startswith("  backend slurm · 2 nodes · 4 GPUs · ≤0.333 h · 1.33 GPU-h")
    assert "  backend = slurm" in first
    assert (
        "2 node(s) × 2 GPU(s)" in asked[2]["estimate"]["summary"]
        and asked[2]["estimate"]["gpu_hours"] == 1.33
    )
    manager.shutdown()


def stored_events(store, writer, kind):
    writer.flush()
    conn = store.connect()
    try:
        return list(iter_events(conn, "s1", kinds=[kind]))
    finally:
        conn.close()


def test_doctor_reports_the_cluster(slurm):
    from intern_tui.commands.doctor import _slurm

    check = _slurm()
    assert check["status"] == "ok" and check["detail"] == "backend='slurm' available; partitions: debug*"


def test_doctor_without_slurm(monkeypatch, tmp_path):
    from intern_tui.commands.doctor import _slurm

    monkeypatch.setenv("PATH", str(tmp_path))
    assert _slurm()["detail"].startswith("not installed (optional")


def test_config_sets_the_hf_namespace_and_the_slurm_rates(home, tmp_path):
    from types import SimpleNamespace

    from helpers import write_config

    from intern_tui.agent.session import _job_manager
    from intern_tui.errors import BadInput

    session = SimpleNamespace(workspace=tmp_path, emitter=None, supervisor=None)
    write_config(home, '[hf]\nnamespace = "my-lab"\n[slurm]\npartition = "gpu"\ngpu_hour_usd = 2.0\n')
    manager = _job_manager(session)
    assert "billed to my-lab" in manager.estimate({"backend": "hf"})["summary"]
    est = manager.estimate({"backend": "slurm", "gpus": 4, "nodes": 2, "timeout": 3600})
    assert est["usd"] == 16.0 and "partition gpu" in est["summary"]
    write_config(home, '[slurm]\ngpu_hour_usd = "cheap"\n')
    with pytest.raises(BadInput, match=r"\[slurm\] gpu_hour_usd must be a number"):
        _job_manager(session)


def test_end_to_end_a_headless_session_trains_on_slurm(slurm, home, tmp_path):
    """The CLI, a scripted policy through the real agent loop and sandbox, a real Slurm job."""
    import json
    import sys

    from helpers import write_config, write_policy

    write_config(home, "[slurm]\nnode_hour_usd = 2.0\n")
    wait = (
        "import time\ns = job_status(job)\nwhile s['status'] == 'running':\n    time.sleep(0.2)\n"
        "    s = job_status(job)\nprint(s['status'], s['backend'], s['partition'])\nprint(job_logs(job))"
    )
    model = write_policy(
        tmp_path / "p.jsonl",
        [
            ("Write the script.", "print(write_file('t.py', \"print('hello from slurm')\"))"),
            (
                "Launch it on Slurm.",
                "job = launch_job('t.py', backend='slurm', partition='debug', timeout=600)",
            ),
            ("Wait for it.", wait),
            ("Done.", "final_answer('trained on slurm')"),
        ],
    )
    res = subprocess.run(
        [sys.executable, "-m", "intern_tui", "--home", str(home), "run", "--headless", "--approve", "all",
         "--budget-usd", "1", "--model", model, "slurm task"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    show = subprocess.run(
        [sys.executable, "-m", "intern_tui", "--home", str(home), "sessions", "show", "last", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    info = json.loads(show.stdout)
    assert info["status"] == "done" and info["final_answer"] == "trained on slurm"
    assert [(j["backend"], j["status"]) for j in info["jobs"]] == [("slurm", "completed")]
    assert [a["decision"] for a in info["approvals"]] == ["auto"]
    conn = sqlite3.connect(home / "sessions.db")
    try:
        payloads = [json.loads(p) for k, p in conn.execute("SELECT kind, payload FROM events ORDER BY seq")
                    if k in ("approval_requested", "observation")]  # fmt: skip
    finally:
        conn.close()
    summary = next(p["estimate"]["summary"] for p in payloads if "estimate" in p)
    assert (
        summary.startswith("Slurm partition debug: 1 node(s) × 0 GPU(s) for up to 0.17 h")
        and "$0.33" in summary
    )
    texts = " ".join(str(p.get("text", "")) for p in payloads)
    assert "completed slurm debug" in texts and "hello from slurm" in texts


DDP = """
    import os
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    total = torch.tensor([dist.get_rank() + 1.0])
    dist.all_reduce(total)
    line = (f"rank {dist.get_rank()}/{dist.get_world_size()} sum {total.item():g} "
            f"cvd {os.environ.get('CUDA_VISIBLE_DEVICES')} slurm {os.environ['SLURM_JOB_ID']}\\n")
    os.write(1, line.encode())  # one write: the ranks share the log, unbuffered print() writes twice
    dist.destroy_process_group()
"""


def test_slurm_gpus_are_allocated_and_torchrun_starts_one_rank_per_gpu(slurm, session):
    store, writer, emitter, ws = session
    write(ws, "ddp.py", DDP)
    manager = JobManager(ws, emitter, **FAST)
    job = manager.launch("ddp.py", backend="slurm", gpus=2, launcher="torchrun", env={"OMP_NUM_THREADS": "1"})
    status = manager.wait(job, timeout=90)
    log = (ws / "jobs" / job / "log.txt").read_text()
    assert status["status"] == "completed", log
    assert "#SBATCH --gres=gpu:2" in (ws / "jobs" / job / "slurm.sh").read_text()
    rid = status["remote_id"]
    ranks = sorted(line for line in log.splitlines() if line.startswith("rank "))
    assert ranks == [f"rank 0/2 sum 3 cvd 0,1 slurm {rid}", f"rank 1/2 sum 3 cvd 0,1 slurm {rid}"]
    assert status["gpus_per_node"] == 2 and status["nodes"] == 1
    manager.shutdown()


@pytest.mark.slow
def test_evaluate_runs_on_slurm_and_its_scores_come_back(slurm, tmp_path):
    from test_evaluate import ApproveAll, build_tiny_model

    from intern_tui.bus import EventBus
    from intern_tui.templates import install
    from intern_tui.tools import ToolContext, ToolGate

    ws = tmp_path / "ws"
    install(ws / "templates")
    build_tiny_model(ws / "models" / "tiny")
    bus = EventBus()
    sub = bus.subscribe("test")
    emitter = Emitter(bus, "s1")
    manager = JobManager(ws, emitter, slurm={"gpu_hour_usd": 1.0}, **FAST)
    approvals = ApproveAll()
    gate = ToolGate(
        ToolContext(session_id="s1", workspace=ws, emitter=emitter, approvals=approvals, jobs=manager)
    )
    job = gate.invoke("evaluate", ("models/tiny", "tiny-arith"), {"limit": 4, "backend": "slurm"})
    assert "Slurm: 1 node(s) × 0 GPU(s)" in approvals.requests[0][2]["summary"]
    status = manager.wait(job, timeout=180)
    assert status["status"] == "completed" and status["backend"] == "slurm", manager.logs(job, 30)
    results = [e.payload for e in sub.drain() if e.kind == "eval_result"]
    assert [(r["label"], r["n"], r["engine"]) for r in results] == [("models/tiny", 4, "bundled")]
    manager.shutdown()


def test_reattach_without_the_slurm_client_lists_the_job_with_the_reason(session, monkeypatch, tmp_path):
    _, _, emitter, ws = session
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    manager = JobManager(ws, emitter, **FAST)
    row = {"id": "job-5", "status": "running", "backend": "slurm", "remote_id": "77", "script": "t.py"}
    assert manager.reattach([row]) == []
    status = manager.status("job-5")
    assert status["status"] == "unknown" and "no `squeue` on PATH" in status["error"]
