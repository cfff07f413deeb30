"""Short, fixed-width text for GPU and metric values; `N/A` where a device doesn't report a field."""

from __future__ import annotations

import math
from typing import Any

NA = "N/A"
GIB = 1024**3
MIB = 1024**2


def gib(n: Any) -> str:
    """Bytes as GiB with one decimal ('79.6'); N/A for None."""
    return NA if n is None else f"{n / GIB:.1f}"


def mem_pair(used: Any, total: Any) -> str:
    """'41.0/79.6 GiB' (either side may be N/A)."""
    return f"{gib(used)}/{gib(total)} GiB"


def mem_short(n: Any) -> str:
    """A process's GPU memory: MiB under 1 GiB, else GiB."""
    if n is None:
        return NA
    return f"{n / MIB:.0f} MiB" if n < GIB else f"{n / GIB:.1f} GiB"


def percent(v: Any) -> str:
    return NA if v is None else f"{v:.0f}%"


def watts(power: Any, limit: Any) -> str:
    """'512/700 W'."""
    if power is None and limit is None:
        return NA
    p = NA if power is None else f"{power:.0f}"
    lim = NA if limit is None else f"{limit:.0f}"
    return f"{p}/{lim} W"


def celsius(v: Any) -> str:
    return NA if v is None else f"{v:.0f}°C"


def mhz(v: Any) -> str:
    return NA if v is None else f"{v:.0f} MHz"


def mem_fraction(used: Any, total: Any) -> float | None:
    if used is None or not total:
        return None
    return max(0.0, min(1.0, used / total))


def short_name(name: Any) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100 80GB HBM3' (the vendor prefix wastes a narrow pane)."""
    if not name:
        return "unknown GPU"
    text = str(name)
    for prefix in ("NVIDIA GeForce ", "NVIDIA "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def gpu_label(gpu: dict[str, Any]) -> str:
    """'0', or '0:3' for MIG device 3 of GPU 0."""
    return f"{gpu['index']}:{gpu['mig_index']}" if gpu.get("mig") else str(gpu["index"])


def number(v: float | None) -> str:
    """A metric value in at most ~9 characters: 0.4132, 1.9e-05, 1234.5, nan."""
    if v is None:
        return NA
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.1f}"
    return f"{v:.4f}"


def step(v: float | None) -> str:
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
