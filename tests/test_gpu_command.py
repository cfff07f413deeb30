"""`intern-tui gpu`: the text and JSON snapshot, the no-GPU answer, and errors as one line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

import pynvml
import pytest
from helpers import running_store
from nvml_fake import FakeNvml, h100_fake

from intern_tui.bus import Emitter
from intern_tui.commands import gpu
from intern_tui.errors import InternError

GIB = 1024**3


def _args(home, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    gpu.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.home = str(home)
    return args


def test_table_of_the_recorded_h100_machine(home, fixtures_dir, capsys):
    fake, _ = h100_fake(fixtures_dir / "nvidia_smi_h100x2.txt")
    fake.devices[1].unsupported = {"temperature"}
    assert gpu.run(_args(home), nvml=fake) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "NVIDIA driver 570.133.20   CUDA 12.8   2 GPU(s)"
    row0 = next(line for line in lines if line.startswith("0 "))
    row1 = next(line for line in lines if line.startswith("1 "))
    for cell in ("H100 80GB HBM3", "0.0/79.6 GiB", "73/700 W", "33°C", "1980 MHz"):
        assert cell in row0
    assert "70/700 W" in row1 and "N/A" in row1  # the unsupported temperature
    assert "No running GPU processes." in out


def test_json_is_the_snapshot(home, fixtures_dir, capsys):
    fake, _ = h100_fake(fixtures_dir / "nvidia_smi_h100x2.txt")
    assert gpu.run(_args(home, "--json"), nvml=fake) == 0
    snap = json.loads(capsys.readouterr().out)
    assert snap["state"] == "ok" and len(snap["gpus"]) == 2
    assert snap["gpus"][0]["power_limit_w"] == 700.0


def test_no_gpu_on_this_machine_is_an_answer_with_exit_0(home, capsys):
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    assert gpu.run(_args(home)) == 0
    out = capsys.readouterr().out
    assert out.startswith("no NVIDIA GPU found (NVML library not loaded")
    assert gpu.run(_args(home, "--json")) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "no_driver"


def test_nvml_failure_is_one_error_line_and_exit_1(home, capsys):
    fake = FakeNvml([], init_error=pynvml.NVML_ERROR_NO_PERMISSION)
    with pytest.raises(InternError) as info:
        gpu.run(_args(home), nvml=fake)
    assert info.value.exit_code == 1
    assert info.value.message == "cannot read the GPUs: NVML refused access (no permission on /dev/nvidia*)"
    assert gpu.run(_args(home, "--json"), nvml=fake) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "error"


def test_gpu_processes_are_labelled_with_running_jobs_from_the_store(home, fixtures_dir, capsys):
    shell = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & wait"], start_new_session=True)
    try:
        with running_store(home) as (_store, bus, writer):
            emitter = Emitter(bus, "s-1")
            emitter.emit("session_started", {"task": "t", "model": "script:x"})
            emitter.emit(
                "job_started", {"job_id": "job-42", "pid": shell.pid, "pgid": shell.pid, "script": "a.py"}
            )
            writer.flush()
        fake, _ = h100_fake(fixtures_dir / "nvidia_smi_h100x2.txt")
        # The GPU process is the shell's child (found through the process group even before it forks).
        fake.devices[0].processes = [(shell.pid, 12 * GIB), (os.getpid(), GIB)]
        assert gpu.run(_args(home), nvml=fake) == 0
        out = capsys.readouterr().out
        job_row = next(line for line in out.splitlines() if f" {shell.pid} " in line)
        assert "job-42" in job_row and "12.0 GiB" in job_row
        other = next(line for line in out.splitlines() if f" {os.getpid()} " in line)
        assert " - " in other and "1.0 GiB" in other
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


def test_module_import_stays_light():
    code = (
        "import sys, intern_tui.commands.gpu, intern_tui.telemetry;"
        "heavy = {'pynvml', 'textual', 'torch', 'transformers', 'trl', 'litellm', 'rich'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
