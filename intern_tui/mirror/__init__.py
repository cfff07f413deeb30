"""Mirror every session to the user's private Hugging Face dataset (see docs/mirror.md).

Only light modules are imported here; huggingface_hub is imported by the uploader thread when it first
talks to the Hub.
"""

from .hub import HubError
from .settings import MirrorSettings
from .trace import export_trace
from .uploader import Mirror, MirrorStatus, PushReport

__all__ = ["HubError", "Mirror", "MirrorSettings", "MirrorStatus", "PushReport", "export_trace"]
