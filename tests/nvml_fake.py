"""A fake NVML binding for tests and benchmarks, driven by a recorded `nvidia-smi` table.

It has the function names of `pynvml` that the sampler calls and raises pynvml's own error classes, so the
sampler's error handling is exercised exactly as with a real driver. Devices are plain mutable objects:
a test changes a value, or adds a field to `unsupported`, between samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pynvml

MIB = 1024 * 1024
GIB = 1024 * MIB

_HEADER = re.compile(r"Driver Version:\s*(\S+)\s+CUDA Version:\s*(\S+)")
_ROW1 = re.compile(r"^\|\s+(\d+)\s+(.+?)\s+(On|Off)\s+\|\s+([0-9A-Fa-f:.]+)\s+(On|Off)\s+\|\s+(\S+)\s+\|$")
_ROW2 = re.compile(
    r"^\|\s+(\S+)\s+(\d+)C\s+(P\d+)\s+(\d+)W\s*/\s*(\d+)W\s+\|\s+(\d+)MiB\s*/\s*(\d+)MiB\s+\|"
    r"\s+(\d+)%\s+(\S+)\s+\|$"
)
_ROW3 = re.compile(r"^\|\s+\|\s+\|\s+(\S+)\s+\|$")
_PROC = re.compile(r"^\|\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(.+?)\s+(\d+)MiB\s+\|$")


def parse_nvidia_smi(text: str) -> dict:
    """Parse the plain `nvidia-smi` table: driver, CUDA, one dict per GPU and the process rows."""
    header = _HEADER.search(text)
    out: dict = {"driver": header.group(1), "cuda": header.group(2), "gpus": [], "processes": []}
    lines = [line.rstrip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if (m := _ROW1.match(line)) and (m2 := _ROW2.match(lines[i + 1])):
            m3 = _ROW3.match(lines[i + 2])
            out["gpus"].append(
                {
                    "index": int(m.group(1)),
                    "name": m.group(2),
                    "persistence": m.group(3),
                    "bus_id": m.group(4),
                    "temp_c": int(m2.group(2)),
                    "perf": m2.group(3),
                    "power_w": int(m2.group(4)),
                    "power_limit_w": int(m2.group(5)),
                    "mem_used_mib": int(m2.group(6)),
                    "mem_total_mib": int(m2.group(7)),
                    "util_gpu": int(m2.group(8)),
                    "compute_mode": m2.group(9),
                    "mig": m3.group(1) if m3 else None,
                }
            )
        elif m := _PROC.match(line):
            out["processes"].append(
                {
                    "gpu": int(m.group(1)),
                    "pid": int(m.group(4)),
                    "name": m.group(6),
                    "mem_mib": int(m.group(7)),
                }
            )
    return out


@dataclass
class FakeDevice:
    name: str
    uuid: str
    util_gpu: int = 0
    util_mem: int = 0
    mem_used: int = 0
    mem_total: int = 0
    power_mw: int = 0
    power_limit_mw: int = 0
    temp_c: int = 0
    sm_clock_mhz: int = 1980
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, bytes)
    # Fields this device answers NOT_SUPPORTED for: util, memory, power, power_limit, temperature, sm_clock.
    unsupported: set[str] = field(default_factory=set)
    mig_enabled: bool = False
    mig_slots: list[FakeDevice | None] = field(default_factory=list)
    lost: bool = False


def _error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


class FakeNvml:
    """The subset of `pynvml` the sampler uses, answering from FakeDevice objects (handles are devices)."""

    NVMLError = pynvml.NVMLError
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(
        self,
        devices: list[FakeDevice],
        driver: str = "570.133.20",
        cuda: int = 12080,
        init_error: int | None = None,
        process_names: dict[int, str] | None = None,
    ):
        self.devices = devices
        self.driver = driver
        self.cuda = cuda
        self.init_error = init_error
        self.process_names = process_names or {}
        self.initialised = 0
        self.calls = 0

    def _dev(self, handle: FakeDevice, field_name: str | None = None) -> FakeDevice:
        self.calls += 1
        if not self.initialised:
            raise _error(pynvml.NVML_ERROR_UNINITIALIZED)
        if handle.lost:
            raise _error(pynvml.NVML_ERROR_GPU_IS_LOST)
        if field_name is not None and field_name in handle.unsupported:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle

    def nvmlInit(self) -> None:
        self.calls += 1
        if self.init_error is not None:
            raise _error(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.initialised = max(0, self.initialised - 1)

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        return self._dev(self.devices[index])

    def nvmlDeviceGetName(self, h: FakeDevice) -> str:
        return self._dev(h).name

    def nvmlDeviceGetUUID(self, h: FakeDevice) -> str:
        return self._dev(h).uuid

    def nvmlDeviceGetUtilizationRates(self, h: FakeDevice):
        d = self._dev(h, "util")
        return SimpleNamespace(gpu=d.util_gpu, memory=d.util_mem)

    def nvmlDeviceGetMemoryInfo(self, h: FakeDevice, version=None):
        d = self._dev(h, "memory")
        return SimpleNamespace(used=d.mem_used, total=d.mem_total, free=d.mem_total - d.mem_used)

    def nvmlDeviceGetPowerUsage(self, h: FakeDevice) -> int:
        return self._dev(h, "power").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeDevice) -> int:
        return self._dev(h, "power_limit").power_limit_mw

    def nvmlDeviceGetPowerManagementLimit(self, h: FakeDevice) -> int:
        return self._dev(h, "power_limit").power_limit_mw

    def nvmlDeviceGetTemperature(self, h: FakeDevice, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._dev(h, "temperature").temp_c

    def nvmlDeviceGetClockInfo(self, h: FakeDevice, clock: int) -> int:
        assert clock == pynvml.NVML_CLOCK_SM
        return self._dev(h, "sm_clock").sm_clock_mhz

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeDevice):
        d = self._dev(h, "processes")
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in d.processes]

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self.calls += 1
        if pid not in self.process_names:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return self.process_names[pid]

    def nvmlDeviceGetMigMode(self, h: FakeDevice) -> list[int]:
        d = self._dev(h, "mig")
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if d.mig_enabled else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: FakeDevice) -> int:
        return len(self._dev(h).mig_slots)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: FakeDevice, index: int) -> FakeDevice:
        child = self._dev(h).mig_slots[index]
        if child is None:
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)
        return child


def devices_from_smi(parsed: dict) -> list[FakeDevice]:
    """FakeDevices with the values of a parsed nvidia-smi table (UUIDs made up from the bus id)."""
    return [
        FakeDevice(
            name=g["name"],
            uuid=f"GPU-fixture-{g['bus_id'].replace(':', '').replace('.', '').lower()}",
            util_gpu=g["util_gpu"],
            mem_used=g["mem_used_mib"] * MIB,
            mem_total=g["mem_total_mib"] * MIB,
            power_mw=g["power_w"] * 1000,
            power_limit_mw=g["power_limit_w"] * 1000,
            temp_c=g["temp_c"],
        )
        for g in parsed["gpus"]
    ]


def h100_fake(fixture: Path, **kw) -> tuple[FakeNvml, dict]:
    """The 2x H100 machine of `nvidia_smi_h100x2.txt` as a FakeNvml, with the parsed table."""
    parsed = parse_nvidia_smi(fixture.read_text(encoding="utf-8"))
    cuda_major, cuda_minor = (int(x) for x in parsed["cuda"].split("."))
    return FakeNvml(
        devices_from_smi(parsed), driver=parsed["driver"], cuda=cuda_major * 1000 + cuda_minor * 10, **kw
    ), parsed


def mig_child(name: str, uuid: str, mem_total: int, mem_used: int = 0, processes=None) -> FakeDevice:
    """A MIG device: like the real ones, no utilisation, power, temperature or clock of its own."""
    return FakeDevice(
        name=name,
        uuid=uuid,
        mem_total=mem_total,
        mem_used=mem_used,
        processes=list(processes or []),
        unsupported={"util", "power", "power_limit", "temperature", "sm_clock", "mig"},
    )


def multi_gpu_fake(
    count: int = 4,
    name: str = "NVIDIA H100 80GB HBM3",
    busy: dict[int, list[tuple[int, int | None]]] | None = None,
    mem_total: int = 81559 * MIB,
    **kw,
) -> FakeNvml:
    """An idle `count`-GPU machine (a driver context's 4 MiB used on each). `busy` puts processes
    (pid, bytes) on some GPUs, with their memory counted as used."""
    devices = []
    for i in range(count):
        procs = list((busy or {}).get(i, []))
        used = 4 * MIB + sum(b or 0 for _, b in procs)
        devices.append(
            FakeDevice(
                name=name,
                uuid=f"GPU-multi-{i:04d}",
                mem_used=used,
                mem_total=mem_total,
                power_mw=70_000,
                power_limit_mw=700_000,
                temp_c=30,
                processes=procs,
            )  # fmt: skip
        )
    return FakeNvml(devices, **kw)
