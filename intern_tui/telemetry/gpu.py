"""GPU telemetry: a daemon thread samples NVML; everything else only reads the last snapshot.

`GpuSampler` calls NVML (through `nvidia-ml-py`'s `pynvml`, imported lazily, or an injected binding with
the same function names) once per interval, builds a plain JSON-serialisable snapshot, keeps it (plus a
ring buffer of recent snapshots for sparklines) and hands it to `on_sample` at full rate and to `emit` at a
reduced rate. Rendering never calls NVML, so a slow or wedged driver can't freeze the UI.

Snapshot shape (also the payload of the `gpu_sample` event; memory in bytes, None = not available):

    {"state": "ok" | "no_gpu" | "no_driver" | "error", "message": str, "driver": str | None,
     "cuda": str | None, "ts": float,
     "gpus": [{"index", "name", "uuid", "mig", "mig_index", "util_gpu", "util_mem", "mem_used",
               "mem_total", "power_w", "power_limit_w", "temp_c", "sm_clock_mhz", "error",
               "processes": [{"pid", "name", "mem_used", "job_id", "rank", "hidden"}]}]}
    (`rank`: the worker's distributed rank when one of our jobs runs several processes, else None)

A missing GPU, a missing or unloaded driver, an NVML failure and a container that hides the host's PIDs
are states with a message, never exceptions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .procs import PidToJob, ProcessTable, as_lookup

log = logging.getLogger(__name__)

Snapshot = dict[str, Any]

STATE_OK = "ok"
STATE_NO_GPU = "no_gpu"
STATE_NO_DRIVER = "no_driver"
STATE_ERROR = "error"

# NVML return codes (nvml.h; stable across driver versions). Compared by value so any binding works.
_UNINITIALIZED = 1
_NO_PERMISSION = 4
_DRIVER_NOT_LOADED = 9
_LIBRARY_NOT_FOUND = 12
_GPU_IS_LOST = 15
_LIB_RM_VERSION_MISMATCH = 18
# Errors that mean NVML itself is unusable (reload it) rather than one GPU or field failing.
_FATAL = (_UNINITIALIZED, _DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND, _LIB_RM_VERSION_MISMATCH)
_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_MIG_ENABLED = 1

CONTAINER_MESSAGE = (
    "GPU processes belong to another PID namespace (a container without --pid=host?): "
    "they can't be matched to jobs"
)


def init_error_state(exc: BaseException) -> tuple[str, str]:
    """Map a failure to start NVML to (state, message) a user can act on."""
    code = getattr(exc, "value", None)
    if code == _LIBRARY_NOT_FOUND:
        return STATE_NO_DRIVER, (
            "no NVIDIA GPU found (NVML library not loaded: libnvidia-ml.so.1 is not installed, "
            "so there is no NVIDIA driver on this machine)"
        )
    if code == _DRIVER_NOT_LOADED:
        return STATE_NO_DRIVER, (
            "no NVIDIA GPU available (the NVIDIA driver is installed but not loaded; "
            "check `nvidia-smi` and `lsmod | grep nvidia`)"
        )
    if code == _NO_PERMISSION:
        return STATE_ERROR, "NVML refused access (no permission on /dev/nvidia*)"
    if code == _LIB_RM_VERSION_MISMATCH:
        return STATE_ERROR, "NVIDIA driver/library version mismatch (driver updated without a reboot?)"
    return STATE_ERROR, f"NVML error: {exc}"


def _cuda_version(value: Any) -> str | None:
    """NVML reports CUDA 12.8 as 12080."""
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{value % 1000 // 10}"


def _load_pynvml() -> Any:
    import pynvml  # lazy: only the sampler thread and `intern-tui gpu` need it

    return pynvml


class GpuSampler:
    """Samples every NVIDIA GPU on a daemon thread; the last snapshot is always readable, never blocks.

    nvml: a pynvml-like binding (default: `pynvml`, imported on first use).
    pid_to_job: {pid: job_id} or a callable pid -> job_id | None for the jobs we launched; a GPU process
        whose PID, ancestor or process group is a job's PID is attributed to that job.
    on_sample(snapshot): called from the sampler thread at every sample (for the live UI).
    emit(snapshot): called at most every `emit_interval` seconds, and at once when the state, the message
        or the job-to-GPU assignment changes (wire it to the session's Emitter as `gpu_sample`).
    clock: monotonic clock used for the emit and retry intervals (injectable for tests).
    """

    def __init__(
        self,
        *,
        interval: float = 1.0,
        emit_interval: float = 10.0,
        history_size: int = 600,
        on_sample: Callable[[Snapshot], None] | None = None,
        emit: Callable[[Snapshot], None] | None = None,
        pid_to_job: PidToJob | None = None,
        nvml: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        proc_root: str | os.PathLike = "/proc",
        retry_interval: float = 30.0,
    ):
        self.interval = interval
        self.emit_interval = emit_interval
        self.retry_interval = retry_interval
        self.on_sample = on_sample
        self.emit = emit
        self.clock = clock
        self.wall_clock = wall_clock
        self._job_of = as_lookup(pid_to_job)
        self._procs = ProcessTable(proc_root)
        self._nvml = nvml
        self._ready = False  # NVML initialised and devices enumerated
        self._failure: tuple[str, str] | None = None  # (state, message) while NVML is unusable
        self._last_try: float | None = None
        self._driver: str | None = None
        self._cuda: str | None = None
        self._devices: list[tuple[int, Any, str | None, str | None, str | None]] = []
        self._names: dict[int, str | None] = {}
        self._history: deque[Snapshot] = deque(maxlen=max(1, history_size))
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._emitted_key: tuple | None = None
        self._emitted_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- reading (any thread) ----

    @property
    def snapshot(self) -> Snapshot | None:
        """The most recent snapshot (a dict nobody mutates after publication); None before the first."""
        return self._snapshot

    @property
    def pid_to_job(self) -> Callable[[int], str | None]:
        return self._job_of

    @pid_to_job.setter
    def pid_to_job(self, value: PidToJob | None) -> None:
        """Replace the job lookup (e.g. a fresh {pid: job_id} mapping when a job starts)."""
        self._job_of = as_lookup(value)

    def history(self) -> list[Snapshot]:
        """Recent snapshots, oldest first (for sparklines)."""
        with self._lock:
            return list(self._history)

    # ---- lifecycle ----

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        """Release NVML (the sampler re-initialises it if sampled again)."""
        if self._ready:
            self._ready = False
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # shutting down a broken driver must not raise into a caller's cleanup
                log.debug("nvmlShutdown failed", exc_info=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended laptop, slow driver): don't burst to catch up
                next_at, delay = time.monotonic(), 0
            self._stop.wait(delay)

    # ---- sampling ----

    def sample_once(self) -> Snapshot:
        """Take one sample now, publish it and return it. Never raises."""
        now = self.clock()
        try:
            snap = self._sample(now)
        except Exception as exc:  # a failed sample becomes a state; NVML is restarted at the next one
            if isinstance(getattr(exc, "value", None), int):
                state, message = init_error_state(exc)
            else:
                log.warning("GPU sample failed", exc_info=True)
                state, message = STATE_ERROR, f"GPU sampling failed: {type(exc).__name__}: {exc}"
            self._drop_nvml()
            snap = _empty(state, message, None, None, 0.0)
        snap["ts"] = self.wall_clock()
        self._snapshot = snap
        with self._lock:
            self._history.append(snap)
        self._publish(snap, now)
        return snap

    def _publish(self, snap: Snapshot, now: float) -> None:
        if self.on_sample is not None:
            try:
                self.on_sample(snap)
            except Exception:
                log.warning("on_sample callback failed", exc_info=True)
        if self.emit is None:
            return
        key = _emit_key(snap)
        due = self._emitted_at is None or now - self._emitted_at >= self.emit_interval
        if due or key != self._emitted_key:
            self._emitted_key, self._emitted_at = key, now
            try:
                self.emit(snap)
            except Exception:
                log.warning("emit callback failed", exc_info=True)

    def _sample(self, now: float) -> Snapshot:
        if not self._ready and not self._start_nvml(now):
            state, message = self._failure or (STATE_ERROR, "NVML not initialised")
            return _empty(state, message, self._driver, self._cuda, 0.0)
        if not self._devices:
            return _empty(
                STATE_NO_GPU,
                f"no NVIDIA GPU found (driver {self._driver or '?'} is loaded but reports no GPU)",
                self._driver,
                self._cuda,
                0.0,
            )
        nv = self._nvml
        gpus: list[dict[str, Any]] = []
        seen: set[int] = set()
        for index, handle, name, uuid, error in self._devices:
            if handle is None:
                gpus.append(_gpu_entry(index, name, uuid, error=error))
                continue
            try:
                gpus.extend(self._read_gpu(nv, index, handle, name, uuid, seen))
            except nv.NVMLError as exc:
                if getattr(exc, "value", None) in _FATAL:  # the whole library is gone, not this GPU
                    raise
                gpus.append(_gpu_entry(index, name, uuid, error=f"NVML error: {exc}"))  # fell off the bus
        for pid in self._names.keys() - seen:  # forget names of processes that ended
            del self._names[pid]
        processes = [p for g in gpus for p in g["processes"]]
        message = CONTAINER_MESSAGE if processes and all(p["hidden"] for p in processes) else ""
        return {
            "state": STATE_OK,
            "message": message,
            "driver": self._driver,
            "cuda": self._cuda,
            "ts": 0.0,
            "gpus": gpus,
        }

    def _start_nvml(self, now: float) -> bool:
        if self._last_try is not None and now - self._last_try < self.retry_interval:
            return False
        self._last_try = now
        if self._nvml is None:
            try:
                self._nvml = _load_pynvml()
            except ImportError:
                self._failure = (STATE_ERROR, "nvidia-ml-py is not installed (pip install nvidia-ml-py)")
                return False
        nv = self._nvml
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            self._failure = init_error_state(exc)
            return False
        self._ready, self._failure = True, None
        self._driver = self._query(nv.nvmlSystemGetDriverVersion)
        self._cuda = _cuda_version(self._query(nv.nvmlSystemGetCudaDriverVersion))
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            self._failure = init_error_state(exc)
            self._drop_nvml()
            self._last_try = now  # this start failed: wait retry_interval before the next one
            return False
        self._devices = []
        for index in range(count):
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(index)
            except nv.NVMLError as exc:  # e.g. a GPU lost or without permission: listed with its error
                self._devices.append((index, None, None, None, f"NVML error: {exc}"))
                continue
            name = self._query(nv.nvmlDeviceGetName, handle)
            uuid = self._query(nv.nvmlDeviceGetUUID, handle)
            self._devices.append((index, handle, name, uuid, None))
        return True

    def _drop_nvml(self) -> None:
        """Forget NVML after it failed mid-run (driver reloaded, library gone): restart it next sample."""
        self.close()
        self._devices = []
        self._last_try = None

    def _query(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One NVML field: None when this device or driver doesn't support it (N/A), never an exception."""
        try:
            return fn(*args)
        except self._nvml.NVMLError as exc:
            if getattr(exc, "value", None) in (_GPU_IS_LOST, *_FATAL):
                raise
            return None
        except (AttributeError, TypeError):  # an older binding without this function
            return None

    def _read_gpu(
        self, nv: Any, index: int, handle: Any, name: str | None, uuid: str | None, seen: set[int]
    ) -> list[dict[str, Any]]:
        """The physical GPU, followed by its MIG devices when MIG is enabled."""
        entry = self._read_fields(nv, handle, _gpu_entry(index, name, uuid))
        mig_mode = self._query(nv.nvmlDeviceGetMigMode, handle)
        if not mig_mode or mig_mode[0] != _MIG_ENABLED:
            entry["processes"] = self._read_processes(nv, handle, seen)
            return [entry]
        # With MIG on, processes are listed under the MIG device they run on (not twice on the parent).
        out = [entry]
        for slot in range(self._query(nv.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
            mig = self._query(nv.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
            if mig is None:  # an empty slot
                continue
            child = _gpu_entry(
                index, self._query(nv.nvmlDeviceGetName, mig), self._query(nv.nvmlDeviceGetUUID, mig)
            )
            child["mig"], child["mig_index"] = True, slot
            self._read_fields(nv, mig, child)
            child["processes"] = self._read_processes(nv, mig, seen)
            out.append(child)
        return out

    def _read_fields(self, nv: Any, handle: Any, entry: dict[str, Any]) -> dict[str, Any]:
        q = self._query
        util = q(nv.nvmlDeviceGetUtilizationRates, handle)
        if util is not None:
            entry["util_gpu"], entry["util_mem"] = util.gpu, util.memory
        memory = self._memory(nv, handle)
        if memory is not None:
            entry["mem_used"], entry["mem_total"] = memory.used, memory.total
        power = q(nv.nvmlDeviceGetPowerUsage, handle)  # milliwatts
        entry["power_w"] = None if power is None else power / 1000
        limit = q(nv.nvmlDeviceGetEnforcedPowerLimit, handle)
        if limit is None:
            limit = q(nv.nvmlDeviceGetPowerManagementLimit, handle)
        entry["power_limit_w"] = None if limit is None else limit / 1000
        entry["temp_c"] = q(nv.nvmlDeviceGetTemperature, handle, _TEMPERATURE_GPU)
        entry["sm_clock_mhz"] = q(nv.nvmlDeviceGetClockInfo, handle, _CLOCK_SM)
        return entry

    def _memory(self, nv: Any, handle: Any) -> Any:
        # v2 reports "used" without the driver's reservation, as nvidia-smi shows it; older drivers lack it.
        version = getattr(nv, "nvmlMemory_v2", None)
        if version is not None:
            memory = self._query(nv.nvmlDeviceGetMemoryInfo, handle, version)
            if memory is not None:
                return memory
        return self._query(nv.nvmlDeviceGetMemoryInfo, handle)

    def _read_processes(self, nv: Any, handle: Any, seen: set[int]) -> list[dict[str, Any]]:
        out = []
        for proc in self._query(nv.nvmlDeviceGetComputeRunningProcesses, handle) or ():
            pid = int(proc.pid)
            hidden = not self._procs.exists(pid)
            if pid not in self._names:
                self._names[pid] = self._process_name(nv, pid, hidden)
            seen.add(pid)
            # A hidden PID is the host's number: looking it up here could name an unrelated process.
            job = None if hidden else self._procs.job_of(pid, self._job_of)
            out.append(
                {
                    "pid": pid,
                    "name": self._names[pid],
                    "mem_used": proc.usedGpuMemory,
                    "job_id": job,
                    "rank": self._procs.rank(pid) if job is not None else None,
                    "hidden": hidden,
                }
            )
        return out

    def _process_name(self, nv: Any, pid: int, hidden: bool) -> str | None:
        path = self._query(nv.nvmlSystemGetProcessName, pid)
        if path:
            return os.path.basename(str(path)) or str(path)
        return None if hidden else self._procs.name(pid)


def _gpu_entry(index: int, name: str | None, uuid: str | None, error: str | None = None) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "uuid": uuid,
        "mig": False,
        "mig_index": None,
        "util_gpu": None,
        "util_mem": None,
        "mem_used": None,
        "mem_total": None,
        "power_w": None,
        "power_limit_w": None,
        "temp_c": None,
        "sm_clock_mhz": None,
        "error": error,
        "processes": [],
    }


def _empty(state: str, message: str, driver: str | None, cuda: str | None, ts: float) -> Snapshot:
    return {"state": state, "message": message, "driver": driver, "cuda": cuda, "ts": ts, "gpus": []}


def _emit_key(snap: Snapshot) -> tuple:
    """What makes a sample worth storing at once: the state and which jobs run on which GPU."""
    jobs = frozenset(
        (g["index"], g.get("mig_index"), p["job_id"])
        for g in snap["gpus"]
        for p in g["processes"]
        if p["job_id"] is not None
    )
    return snap["state"], snap["message"], jobs


def read_snapshot(nvml: Any = None, pid_to_job: PidToJob | None = None) -> Snapshot:
    """One snapshot, taken now (for `intern-tui gpu`); NVML is released afterwards."""
    sampler = GpuSampler(nvml=nvml, pid_to_job=pid_to_job, history_size=1)
    try:
        return sampler.sample_once()
    finally:
        sampler.close()
