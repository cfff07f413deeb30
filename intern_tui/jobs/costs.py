"""Cost estimates of a launch, per backend: GPU-hours and dollars, for the approval and the budget.

Every estimate is `{"gpu_hours", "usd", "summary"}`; `usd` is None when no price is known (the budget then
refuses to approve it without a human: an unknown price is not a zero price). The summary names the
backend, nodes × GPUs, the hours and the dollars.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_HOURS = 2.0  # assumed run length when no timeout is given (and the enforced limit on HF Jobs)

# Approximate Hugging Face Jobs prices (USD per hour, pay-as-you-go, as listed on
# https://huggingface.co/pricing in 2025) and GPU counts. Estimates only: the bill is what HF charges.
HF_FLAVORS: dict[str, tuple[int, float]] = {
    "cpu-basic": (0, 0.01),
    "cpu-upgrade": (0, 0.03),
    "cpu-performance": (0, 0.50),
    "cpu-xl": (0, 1.00),
    "t4-small": (1, 0.40),
    "t4-medium": (1, 0.60),
    "l4x1": (1, 0.80),
    "l4x4": (4, 3.80),
    "l40sx1": (1, 1.80),
    "l40sx4": (4, 8.30),
    "l40sx8": (8, 23.50),
    "a10g-small": (1, 1.00),
    "a10g-large": (1, 1.50),
    "a10g-largex2": (2, 3.00),
    "a10g-largex4": (4, 5.00),
    "a100-large": (1, 2.50),
    "a100x4": (4, 10.00),
    "a100x8": (8, 20.00),
    "h200": (1, 5.00),
    "h200x2": (2, 10.00),
    "h200x4": (4, 20.00),
    "h200x8": (8, 40.00),
    "rtx-pro-6000": (1, 2.50),
    "rtx-pro-6000x2": (2, 5.00),
    "rtx-pro-6000x4": (4, 10.00),
    "rtx-pro-6000x8": (8, 20.00),
}


def hours_of(arguments: dict[str, Any]) -> tuple[float, str]:
    """The run length an estimate assumes, and how to say it."""
    timeout = arguments.get("timeout")
    hours = float(timeout) / 3600 if timeout else DEFAULT_HOURS
    return hours, f"{hours:.2g} h" + ("" if timeout else " (assumed; no timeout given)")


def local_gpu_count() -> int:
    """GPUs a local job may use, without importing torch: CUDA_VISIBLE_DEVICES, else /dev/nvidia*."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return sum(1 for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    except OSError:
        return 0


def estimate_local(arguments: dict[str, Any], free: list[int] | None = None) -> dict[str, Any]:
    """Local jobs cost nothing but count gpus × hours. `free`: the free GPUs now (when known), shown."""
    hours, limit = hours_of(arguments)
    gpus = arguments.get("gpus")
    count = int(gpus) if isinstance(gpus, int) else local_gpu_count()
    summary = f"local job on {count} GPU(s) for up to {limit}: {count * hours:.2g} GPU-hours, no charge"
    if isinstance(gpus, int) and gpus > 1:
        summary += f" · {launcher_of(arguments)} × {gpus} processes"
    if isinstance(gpus, int) and gpus > 0 and free is not None:
        if len(free) >= gpus:
            summary += f" · on GPU {','.join(map(str, free[:gpus]))} (free now)"
        else:
            summary += f" · ⚠ only {len(free)} of the {gpus} GPUs asked are free now: the launch will fail"
    return {
        "backend": "local",
        "gpus": count,
        "hours": round(hours, 3),
        "gpu_hours": round(count * hours, 2),
        "usd": 0.0,
        "summary": summary,
    }


def launcher_of(arguments: dict[str, Any]) -> str:
    return "torchrun" if arguments.get("launcher") == "torchrun" else "accelerate launch"


def estimate_hf(arguments: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    hours, limit = hours_of(arguments)
    flavor = arguments.get("flavor") or "cpu-basic"
    billed = arguments.get("namespace") or namespace
    to = f" · billed to {billed}" if billed else " · billed to your own account"
    if flavor not in HF_FLAVORS:
        return {
            "backend": "hf",
            "flavor": flavor,
            "hours": round(hours, 3),
            "gpu_hours": None,
            "usd": None,
            "summary": f"HF Jobs, unknown flavor {flavor!r}: no price known; up to {limit}{to}",
        }
    gpus, price = HF_FLAVORS[flavor]
    usd = round(price * hours, 2)
    return {
        "backend": "hf",
        "flavor": flavor,
        "gpus": gpus,
        "hours": round(hours, 3),
        "gpu_hours": round(gpus * hours, 2),
        "usd": usd,
        "summary": f"HF Jobs {flavor} (~${price:.2f}/h, {gpus} GPU) for up to {limit}: about ${usd:.2f}{to}",
    }


def estimate_slurm(arguments: dict[str, Any], rates: dict[str, Any] | None = None) -> dict[str, Any]:
    """Slurm: `[slurm] gpu_hour_usd` × nodes × GPUs × hours, plus `node_hour_usd` × nodes × hours. Without
    a configured rate the dollars are unknown (a budget then asks a human)."""
    rates = rates or {}
    hours, limit = hours_of(arguments)
    nodes = arguments.get("nodes") or 1
    gpus = arguments.get("gpus") or 0
    nodes = int(nodes) if isinstance(nodes, int) else 1
    gpus = int(gpus) if isinstance(gpus, int) else 0
    gpu_hours = round(nodes * gpus * hours, 2)
    partition = arguments.get("partition") or rates.get("partition")
    where = f"Slurm{f' partition {partition}' if partition else ''}"
    shape = f"{nodes} node(s) × {gpus} GPU(s)"
    gpu_rate, node_rate = rates.get("gpu_hour_usd"), rates.get("node_hour_usd")
    shown = {"backend": "slurm", "nodes": nodes, "gpus": nodes * gpus, "hours": round(hours, 3)}
    if gpu_rate is None and node_rate is None:
        return {
            **shown,
            "gpu_hours": gpu_hours,
            "usd": None,
            "summary": f"{where}: {shape} for up to {limit}: {gpu_hours:.2g} GPU-hours; "
            "no price known (set [slurm] gpu_hour_usd in config.toml)",
        }
    usd = round(hours * nodes * (gpus * float(gpu_rate or 0) + float(node_rate or 0)), 2)
    rate = f"${float(gpu_rate or 0):.2f}/GPU-h" + (f" + ${float(node_rate):.2f}/node-h" if node_rate else "")
    return {
        **shown,
        "gpu_hours": gpu_hours,
        "usd": usd,
        "summary": f"{where}: {shape} for up to {limit}: {gpu_hours:.2g} GPU-hours, about ${usd:.2f} ({rate})",
    }
