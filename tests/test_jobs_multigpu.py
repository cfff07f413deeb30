"""Multi-GPU local jobs: GPUs chosen among the free ones in the GPU table (a fake NVML: the one part we
can't have here), the launcher's command line and environment seen by a real process, a real
`torchrun --nproc_per_node 2` on CPU (gloo), and each rank attributed to its job in the GPU table."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pynvml
import pytest
from helpers import running_store
from nvml_fake import GIB, MIB, multi_gpu_fake

from intern_tui.bus import Emitter
from intern_tui.jobs import JobManager
from intern_tui.telemetry.gpu import GpuSampler
from intern_tui.tools.base import ToolError

FAST = {"poll_interval": 0.05, "hold_seconds": 0.2, "cancel_grace": 2.0}
STRANGER = 999_999  # a process of someone else, holding GPU 0


@pytest.fixture
def session(home, tmp_path):
    with running_store(home) as (store, bus, writer):
        emitter = Emitter(bus, "s1")
        emitter.emit("session_started", {"task": "multi-gpu", "model": "script:x"})
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "train.py").write_text("print('train')\n")
        yield store, writer, emitter, ws


def fake_python(tmp_path: Path) -> str:
    """A stand-in interpreter that prints its command line and the GPU environment it got."""
    path = tmp_path / "python"
    path.write_text(
        '#!/bin/sh\necho "argv: $*"\necho "cvd=[$CUDA_VISIBLE_DEVICES] order=[$CUDA_DEVICE_ORDER]"\n'
    )
    path.chmod(0o755)
    return str(path)


def log_of(ws: Path, job: str) -> list[str]:
    return (ws / "jobs" / job / "log.txt").read_text().splitlines()


def test_gpus_are_chosen_among_the_free_ones(session, tmp_path, monkeypatch):
    _, _, emitter, ws = session
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = multi_gpu_fake(4, busy={0: [(STRANGER, 30 * GIB)]})
    manager = JobManager(ws, emitter, python=fake_python(tmp_path), nvml=fake, **FAST)
    job = manager.launch("train.py", gpus=2, args=["--x", "1"])
    status = manager.wait(job, timeout=30)
    assert status["status"] == "completed" and status["cuda_visible_devices"] == "1,2"
    script = ws / "train.py"
    assert log_of(ws, job) == [
        f"argv: -m accelerate.commands.launch --num_processes 2 {script} --x 1",
        "cvd=[1,2] order=[PCI_BUS_ID]",
    ]
    torchrun = manager.launch("train.py", gpus=3, launcher="torchrun")
    manager.wait(torchrun, timeout=30)
    assert log_of(ws, torchrun) == [
        f"argv: -m torch.distributed.run --standalone --nproc_per_node 3 {script}",
        "cvd=[1,2,3] order=[PCI_BUS_ID]",
    ]
    cpu = manager.launch("train.py", gpus=0)
    manager.wait(cpu, timeout=30)
    assert log_of(ws, cpu) == [f"argv: {script}", "cvd=[] order=[]"]  # gpus=0: no GPU at all


def test_too_few_free_gpus_is_one_clear_error(session, tmp_path):
    store, writer, emitter, ws = session
    fake = multi_gpu_fake(2, busy={0: [(STRANGER, 30 * GIB)]})
    fake.devices[1].mem_used = 20 * GIB  # memory held without a visible process (another container)
    manager = JobManager(ws, emitter, python=fake_python(tmp_path), nvml=fake, **FAST)
    with pytest.raises(ToolError) as err:
        manager.launch("train.py", gpus=2)
    assert str(err.value) == (
        "gpus=2 asked, but only 0 of 2 GPU(s) are free (GPU 0: 1 process, 30.0 GiB used; GPU 1: 20.0 GiB "
        "used); wait for a job to end, cancel one, or ask for fewer GPUs"
    )
    assert manager.job_ids() == [] and not (ws / "jobs").exists()
    estimate = manager.estimate({"script": "train.py", "gpus": 2})
    assert "⚠ only 0 of the 2 GPUs asked are free now" in estimate["summary"]


def test_our_own_cuda_visible_devices_limits_the_choice(session, tmp_path, monkeypatch):
    _, _, emitter, ws = session
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    manager = JobManager(ws, emitter, python=fake_python(tmp_path), nvml=multi_gpu_fake(4), **FAST)
    job = manager.launch("train.py", gpus=1)
    manager.wait(job, timeout=30)
    assert log_of(ws, job)[1] == "cvd=[2] order=[PCI_BUS_ID]"
    with pytest.raises(ToolError, match="only 2 of 4 GPU"):
        manager.launch("train.py", gpus=3)
    estimate = manager.estimate({"gpus": 2, "timeout": 3600, "launcher": "torchrun"})
    assert (
        estimate["gpu_hours"] == 2.0
        and "torchrun × 2 processes · on GPU 2,3 (free now)" in estimate["summary"]
    )


def test_without_a_gpu_table_gpus_is_refused_clearly(session, tmp_path):
    _, _, emitter, ws = session
    fake = multi_gpu_fake(0, init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    manager = JobManager(ws, emitter, python=fake_python(tmp_path), nvml=fake, **FAST)
    with pytest.raises(ToolError, match="gpus=1 needs a readable GPU table .*launch with gpus=0"):
        manager.launch("train.py", gpus=1)


TORCHRUN_SCRIPT = """
    import os, pathlib, time
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    out = pathlib.Path(os.environ["INTERN_TUI_OUTPUT_DIR"])
    (out / f"pid-{rank}").write_text(str(os.getpid()))
    while not (out / "go").exists():
        time.sleep(0.05)
    total = torch.tensor([rank + 1.0])
    dist.all_reduce(total)
    line = f"rank {rank}/{world} sum {total.item():g} cvd {os.environ['CUDA_VISIBLE_DEVICES']}\\n"
    os.write(1, line.encode())  # one write: the ranks share the log, unbuffered print() writes twice
    dist.destroy_process_group()
"""


def test_real_torchrun_on_two_processes_and_each_rank_is_attributed(session):
    _, _, emitter, ws = session
    (ws / "ddp.py").write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    fake = multi_gpu_fake(2)
    manager = JobManager(ws, emitter, python=sys.executable, nvml=fake, **FAST)
    job = manager.launch("ddp.py", gpus=2, launcher="torchrun", env={"OMP_NUM_THREADS": "1"})
    out = ws / "jobs" / job / "output"
    deadline = time.monotonic() + 60
    while not all((out / f"pid-{r}").exists() for r in (0, 1)):
        assert time.monotonic() < deadline and manager.status(job)["status"] == "running", log_of(ws, job)
        time.sleep(0.05)
    pids = [int((out / f"pid-{r}").read_text()) for r in (0, 1)]
    for device, pid in zip(fake.devices, pids, strict=True):  # each rank holds "its" GPU
        device.processes = [(pid, 2 * GIB)]
        device.mem_used = 2 * GIB + 4 * MIB
    snap = GpuSampler(nvml=fake, pid_to_job=manager.pid_map()).sample_once()
    seen = [(g["index"], p["job_id"], p["rank"]) for g in snap["gpus"] for p in g["processes"]]
    assert seen == [(0, job, 0), (1, job, 1)]  # worker → torchrun → wrapper shell: the job's pid tree
    (out / "go").write_text("")
    status = manager.wait(job, timeout=60)
    assert status["status"] == "completed", log_of(ws, job)
    lines = sorted(ln for ln in log_of(ws, job) if ln.startswith("rank "))
    assert lines == ["rank 0/2 sum 3 cvd 0,1", "rank 1/2 sum 3 cvd 0,1"]
    assert os.environ.get("RANK") is None  # nothing leaked into us


def test_the_gpu_pane_and_the_gpu_command_name_the_rank():
    from intern_tui.commands.gpu import _job_label
    from intern_tui.tui.widgets.gpu_pane import _process_lines

    worker = {
        "pid": 41,
        "name": "python3",
        "mem_used": 2 * GIB,
        "job_id": "job-1a2b",
        "rank": 1,
        "hidden": False,
    }
    assert "job-1a2b rank 1  python3  pid 41" in _process_lines([worker], 80)[0].plain
    assert _job_label(worker) == "job-1a2b/rank 1" and _job_label({**worker, "rank": None}) == "job-1a2b"
