"""Training jobs: local process groups and Hugging Face Jobs, their logs, metrics and failure alerts.

`JobManager` launches and watches jobs and emits `job_started`, `job_log`, `job_metric`, `alert` and
`job_finished` events; `recover_jobs` re-attaches a resumed session's jobs. Importing this package is
cheap (no torch, transformers or huggingface_hub).
"""

from .detectors import JobMonitor
from .manager import JobManager, normalize_args
from .metrics import MetricsTracker, parse_dict_line, parse_jsonl_record, parse_trainer_state
from .recovery import load_job_rows, recover_jobs

__all__ = [
    "JobManager",
    "JobMonitor",
    "MetricsTracker",
    "load_job_rows",
    "normalize_args",
    "parse_dict_line",
    "parse_jsonl_record",
    "parse_trainer_state",
    "recover_jobs",
]
