"""The GPU sampler: the real NVML on this machine (no GPU), and a fake binding replaying a recorded
`nvidia-smi` table of 2x H100 for everything a GPU box would show."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pynvml
import pytest
from nvml_fake import FakeNvml, h100_fake, mig_child, parse_nvidia_smi

from intern_tui.telemetry.gpu import CONTAINER_MESSAGE, GpuSampler, read_snapshot

MIB = 1024 * 1024
GIB = 1024 * MIB


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def smi(fixtures_dir) -> Path:
    return fixtures_dir / "nvidia_smi_h100x2.txt"


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return out


def _wait_for(predicate, what: str):
    for _ in range(500):  # a bounded poll, not a timing assertion
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def _absent_pids(n: int) -> list[int]:
    pids, candidate = [], 4_190_000
    while len(pids) < n:
        if not os.path.exists(f"/proc/{candidate}"):
            pids.append(candidate)
        candidate += 1
    return pids


# ---- the real library on this machine ----


def test_real_nvml_without_gpu_is_a_clean_state():
    sampler = GpuSampler()  # the real pynvml: this machine has no NVIDIA driver
    snap = sampler.sample_once()
    sampler.close()
    if snap["state"] == "ok":
        pytest.skip("this machine has a GPU; the no-GPU state can't be observed here")
    assert snap["state"] in ("no_gpu", "no_driver")
    assert snap["message"].startswith("no NVIDIA GPU")
    assert snap["gpus"] == []
    assert json.loads(json.dumps(snap)) == snap
    # A second sample within the retry interval doesn't hammer dlopen, and still says the same.
    again = sampler.sample_once()
    assert (again["state"], again["message"]) == (snap["state"], snap["message"])


def test_real_library_not_found_is_reported_as_no_driver():
    with pytest.raises(pynvml.NVMLError) as info:
        pynvml.nvmlInit()
    if info.value.value != pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        pytest.skip("NVML is installed here")
    snap = read_snapshot()
    assert snap["state"] == "no_driver"
    assert "NVML library not loaded" in snap["message"]


# ---- the recorded 2x H100 machine ----


def test_fixture_parser_reads_the_recorded_table(smi):
    parsed = parse_nvidia_smi(smi.read_text())
    assert (parsed["driver"], parsed["cuda"]) == ("570.133.20", "12.8")
    assert [g["name"] for g in parsed["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 2
    assert [(g["temp_c"], g["power_w"], g["power_limit_w"]) for g in parsed["gpus"]] == [
        (33, 73, 700),
        (26, 70, 700),
    ]
    assert {(g["mem_used_mib"], g["mem_total_mib"], g["mig"]) for g in parsed["gpus"]} == {
        (0, 81559, "Disabled")
    }
    assert parsed["processes"] == []


def test_fake_h100_values_come_through(smi):
    fake, parsed = h100_fake(smi)
    snap = read_snapshot(nvml=fake)
    assert snap["state"] == "ok" and snap["message"] == ""
    assert (snap["driver"], snap["cuda"]) == ("570.133.20", "12.8")
    assert [g["index"] for g in snap["gpus"]] == [0, 1]
    g0, g1 = snap["gpus"]
    assert g0["name"] == "NVIDIA H100 80GB HBM3" and g0["mig"] is False and g0["error"] is None
    assert (g0["mem_used"], g0["mem_total"]) == (0, 81559 * MIB)
    assert (g0["power_w"], g0["power_limit_w"], g0["temp_c"]) == (73.0, 700.0, 33)
    assert (g1["power_w"], g1["temp_c"], g1["util_gpu"]) == (70.0, 26, 0)
    assert g0["uuid"] != g1["uuid"]
    assert fake.initialised == 0  # read_snapshot shuts NVML down again
    assert json.loads(json.dumps(snap)) == snap


def test_unsupported_fields_are_none_not_errors(smi):
    fake, _ = h100_fake(smi)
    fake.devices[1].unsupported = {"util", "power", "power_limit", "temperature", "sm_clock"}
    g0, g1 = read_snapshot(nvml=fake)["gpus"]
    assert g1["util_gpu"] is g1["util_mem"] is g1["power_w"] is g1["power_limit_w"] is None
    assert g1["temp_c"] is g1["sm_clock_mhz"] is None
    assert g1["mem_total"] == 81559 * MIB  # what is supported still comes through
    assert g0["power_w"] == 73.0 and g0["sm_clock_mhz"] == 1980


def test_a_lost_gpu_is_listed_with_its_error_and_the_other_still_reads(smi):
    fake, _ = h100_fake(smi)
    sampler = GpuSampler(nvml=fake)
    sampler.sample_once()
    fake.devices[0].lost = True
    g0, g1 = sampler.sample_once()["gpus"]
    assert g0["error"] and "lost" in g0["error"].lower()
    assert g1["error"] is None and g1["temp_c"] == 26


def test_processes_map_to_jobs_through_their_parent_shell(smi):
    # A job as the runner launches it: /bin/sh is the job's PID, the GPU process is its child.
    shell = subprocess.Popen(["/bin/sh", "-c", "sleep 60; :"], start_new_session=True)
    try:
        worker = _wait_for(lambda: _children(shell.pid), "the shell's child")[0]
        fake, _ = h100_fake(smi, process_names={worker: "/usr/bin/python3"})
        fake.devices[0].processes = [(worker, 40 * GIB), (os.getpid(), 512 * MIB)]
        sampler = GpuSampler(nvml=fake, pid_to_job={shell.pid: "job-7"})
        procs = sampler.sample_once()["gpus"][0]["processes"]
        by_pid = {p["pid"]: p for p in procs}
        assert by_pid[worker] == {
            "pid": worker,
            "name": "python3",
            "mem_used": 40 * GIB,
            "job_id": "job-7",
            "rank": None,  # a single-process job
            "hidden": False,
        }
        # Not ours: no job, and the name falls back to /proc when NVML doesn't know it.
        assert by_pid[os.getpid()]["job_id"] is None
        assert by_pid[os.getpid()]["name"] == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
        # A callable lookup works the same way.
        sampler = GpuSampler(nvml=fake, pid_to_job=lambda pid: "job-9" if pid == shell.pid else None)
        assert sampler.sample_once()["gpus"][0]["processes"][0]["job_id"] == "job-9"
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


def test_orphaned_worker_still_maps_through_its_process_group(smi):
    # The launcher exits and leaves its worker behind (re-parented); the process group still names the job.
    launcher = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, start_new_session=True
    )
    worker = int(launcher.stdout.readline())
    launcher.wait()
    try:
        assert not os.path.exists(f"/proc/{launcher.pid}") or _children(launcher.pid) == []
        fake, _ = h100_fake(smi)
        fake.devices[1].processes = [(worker, 2 * GIB)]
        sampler = GpuSampler(nvml=fake, pid_to_job={launcher.pid: "job-orphan"})
        assert sampler.sample_once()["gpus"][1]["processes"][0]["job_id"] == "job-orphan"
    finally:
        os.kill(worker, signal.SIGKILL)
        launcher.stdout.close()


def test_container_hiding_host_pids_is_a_state_with_a_message(smi):
    hidden = _absent_pids(2)
    fake, _ = h100_fake(smi, process_names={hidden[0]: "/opt/conda/bin/python"})
    fake.devices[0].processes = [(hidden[0], 30 * GIB)]
    fake.devices[1].processes = [(hidden[1], None)]  # memory N/A too (as under WDDM/MIG)
    # Even a lookup that claims the number must not attribute a host PID we can't see.
    snap = read_snapshot(nvml=fake, pid_to_job={hidden[0]: "job-1"})
    assert snap["state"] == "ok"
    assert snap["message"] == CONTAINER_MESSAGE
    p0 = snap["gpus"][0]["processes"][0]
    p1 = snap["gpus"][1]["processes"][0]
    assert (p0["hidden"], p0["job_id"], p0["name"], p0["mem_used"]) == (True, None, "python", 30 * GIB)
    assert (p1["hidden"], p1["name"], p1["mem_used"]) == (True, None, None)


def test_mig_devices_are_listed_under_their_gpu(smi):
    fake, _ = h100_fake(smi)
    parent = fake.devices[0]
    parent.mig_enabled = True
    parent.processes = [(os.getpid(), GIB)]  # the parent's list repeats its instances' processes
    parent.mig_slots = [
        mig_child("NVIDIA H100 80GB HBM3 MIG 3g.40gb", "MIG-aaa", 40 * GIB, 5 * GIB, [(os.getpid(), GIB)]),
        None,  # an empty slot
        mig_child("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "MIG-bbb", 10 * GIB),
    ]
    gpus = read_snapshot(nvml=fake)["gpus"]
    assert [(g["index"], g["mig"], g["mig_index"]) for g in gpus] == [
        (0, False, None),
        (0, True, 0),
        (0, True, 2),
        (1, False, None),
    ]
    parent_entry, big, small, _ = gpus
    assert parent_entry["processes"] == []  # listed once, under the instance it runs on
    assert [p["pid"] for p in big["processes"]] == [os.getpid()]
    assert (big["name"], big["uuid"], big["mem_total"], big["mem_used"]) == (
        "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
        "MIG-aaa",
        40 * GIB,
        5 * GIB,
    )
    assert big["util_gpu"] is None and big["temp_c"] is None and big["power_w"] is None
    assert small["mem_total"] == 10 * GIB and small["processes"] == []


def test_no_device_and_driver_errors_are_states(smi):
    snap = read_snapshot(nvml=FakeNvml([], driver="570.133.20"))
    assert snap["state"] == "no_gpu" and "reports no GPU" in snap["message"]
    for code, state, words in [
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "no_driver", "not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "error", "permission"),
        (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "error", "mismatch"),
        (pynvml.NVML_ERROR_UNKNOWN, "error", "NVML error"),
    ]:
        snap = read_snapshot(nvml=FakeNvml([], init_error=code))
        assert (snap["state"], words in snap["message"]) == (state, True), snap


# ---- rates, history, thread ----


def test_emit_is_reduced_rate_but_immediate_on_changes(smi):
    fake, _ = h100_fake(smi)
    clock = Clock()
    seen, stored = [], []
    sampler = GpuSampler(
        nvml=fake,
        clock=clock,
        on_sample=seen.append,
        emit=stored.append,
        emit_interval=10.0,
        retry_interval=30.0,
    )

    def tick(seconds: float = 1.0):
        sampler.sample_once()
        clock.t += seconds

    for _ in range(25):  # 25 s at 1 Hz: stored at 0, 10, 20
        tick()
    assert len(seen) == 25
    assert len(stored) == 3
    assert stored[0] is seen[0] and stored[1] is seen[10] and stored[2] is seen[20]

    # A job appears on GPU 1: stored at once, whatever the interval says.
    fake.devices[1].processes = [(os.getpid(), GIB)]
    sampler.pid_to_job = {os.getpid(): "job-3"}
    tick()
    assert len(stored) == 4 and stored[-1]["gpus"][1]["processes"][0]["job_id"] == "job-3"
    tick()
    assert len(stored) == 4  # nothing changed since

    # The driver goes away mid-run: an error state at once, then (after the retry interval) no_driver.
    fake.initialised = 0
    fake.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    tick()
    assert stored[-1]["state"] == "error" and len(stored) == 5
    tick()
    assert stored[-1]["state"] == "no_driver" and len(stored) == 6
    calls = fake.calls
    for _ in range(5):
        tick()
    assert fake.calls == calls  # within retry_interval NVML isn't touched again
    assert len(stored) == 6
    # The driver is back: re-initialised after the retry interval, and stored at once.
    fake.init_error = None
    clock.t += 30
    tick()
    assert stored[-1]["state"] == "ok" and len(stored) == 7


def test_history_is_a_bounded_ring_oldest_first(smi):
    fake, _ = h100_fake(smi)
    clock = Clock(0.0)
    sampler = GpuSampler(nvml=fake, history_size=5, wall_clock=clock)
    assert sampler.snapshot is None and sampler.history() == []
    for i in range(8):
        fake.devices[0].util_gpu = i * 10
        clock.t = float(i)
        sampler.sample_once()
    history = sampler.history()
    assert [s["ts"] for s in history] == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert [s["gpus"][0]["util_gpu"] for s in history] == [30, 40, 50, 60, 70]
    assert sampler.snapshot is history[-1]


def test_callback_failures_do_not_stop_sampling(smi):
    fake, _ = h100_fake(smi)

    def broken(_snap):
        raise RuntimeError("UI gone")

    sampler = GpuSampler(nvml=fake, on_sample=broken, emit=broken)
    assert sampler.sample_once()["state"] == "ok"
    assert sampler.sample_once()["state"] == "ok"


def test_daemon_thread_samples_and_stops_cleanly(smi):
    fake, _ = h100_fake(smi)
    got = threading.Event()
    snaps = []

    def on_sample(snap):
        snaps.append(snap)
        if len(snaps) >= 3:
            got.set()

    sampler = GpuSampler(nvml=fake, interval=0.01, on_sample=on_sample)
    sampler.start()
    try:
        assert got.wait(10), "the sampler thread produced no samples"
    finally:
        sampler.stop()
    assert sampler._thread is None
    assert fake.initialised == 0  # NVML released on stop
    assert all(s["state"] == "ok" for s in snaps)


def test_sampler_calls_only_functions_the_real_binding_has():
    # No GPU here to run the real calls, so at least every name the sampler uses must exist in pynvml
    # (and in the fake, so the tests above exercised it).
    import inspect
    import re

    import intern_tui.telemetry.gpu as gpu_module

    used = set(re.findall(r"\bnv\.(nvml\w+|NVMLError)", inspect.getsource(gpu_module)))
    assert {"nvmlInit", "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetMigDeviceHandleByIndex"} <= used
    assert [name for name in sorted(used) if not hasattr(pynvml, name)] == []
    assert [name for name in sorted(used) if not hasattr(FakeNvml, name)] == []
    assert hasattr(pynvml, "nvmlMemory_v2")
