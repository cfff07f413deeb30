"""Which GPUs a local job gets: the free ones in the GPU sampler's table.

A GPU is free when it runs no compute process and less than `BUSY_MEMORY` of its memory is in use (a
driver context alone stays far below that). The job gets `CUDA_VISIBLE_DEVICES` with their NVML indices
and `CUDA_DEVICE_ORDER=PCI_BUS_ID`, so CUDA numbers the devices as NVML does. When our own environment
already restricts the GPUs (`CUDA_VISIBLE_DEVICES=2,3`), only those are candidates.
"""

from __future__ import annotations

from typing import Any

from ..errors import ToolError

BUSY_MEMORY = 0.05  # fraction of memory in use above which a GPU with no visible process is busy


def visible_indices(env: dict[str, str]) -> set[int] | None:
    """The GPU indices our CUDA_VISIBLE_DEVICES allows (None: no restriction or not plain indices)."""
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        return None  # UUIDs or MIG names: we can't map them to NVML indices cheaply, so don't guess
    return {int(p) for p in parts}


def gpu_usage(gpu: dict[str, Any]) -> str | None:
    """Why a GPU is busy ("2 processes, 31.0 GiB used"), or None when it is free."""
    procs = len(gpu.get("processes") or ())
    used, total = gpu.get("mem_used"), gpu.get("mem_total")
    heavy = used is not None and total and used / total >= BUSY_MEMORY
    if not procs and not heavy:
        return None
    parts = [f"{procs} process{'es' if procs != 1 else ''}"] if procs else []
    if used is not None:
        parts.append(f"{used / 2**30:.1f} GiB used")
    return ", ".join(parts)


def free_gpus(snapshot: dict[str, Any], allowed: set[int] | None = None) -> list[int] | None:
    """Indices of the free physical GPUs (MIG slices aside); None when the table can't be read."""
    if snapshot.get("state") not in ("ok", "no_gpu"):
        return None
    out = []
    for gpu in snapshot.get("gpus") or ():
        if gpu.get("mig") or gpu.get("error"):
            continue
        if allowed is not None and gpu["index"] not in allowed:
            continue
        if gpu_usage(gpu) is None:
            out.append(gpu["index"])
    return out


def pick_gpus(snapshot: dict[str, Any], count: int, env: dict[str, str]) -> list[int]:
    """The first `count` free GPUs, or a ToolError that says what is busy."""
    allowed = visible_indices(env)
    free = free_gpus(snapshot, allowed)
    if free is None:
        raise ToolError(
            f"gpus={count} needs a readable GPU table to choose free GPUs, and there is none here "
            f"({snapshot.get('message') or snapshot.get('state')}); launch with gpus=0 (CPU) or on another backend"
        )
    if len(free) >= count:
        return free[:count]
    busy = [
        f"GPU {g['index']}: {gpu_usage(g)}"
        for g in snapshot.get("gpus") or ()
        if not g.get("mig") and (allowed is None or g["index"] in allowed) and gpu_usage(g)
    ]
    where = f" ({'; '.join(busy)})" if busy else ""
    total = len([g for g in snapshot.get("gpus") or () if not g.get("mig")])
    raise ToolError(
        f"gpus={count} asked, but only {len(free)} of {total} GPU(s) are free{where}; "
        "wait for a job to end, cancel one, or ask for fewer GPUs"
    )
