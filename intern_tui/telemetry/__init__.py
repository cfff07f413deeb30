"""Telemetry: the GPU sampler (NVML) and training-metric series for plots. No UI code lives here."""

from .gpu import GpuSampler, read_snapshot
from .series import MetricsBook, downsample

__all__ = ["GpuSampler", "MetricsBook", "downsample", "read_snapshot"]
