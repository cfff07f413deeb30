"""The agent's toolbelt. Importing this package registers every tool in `base.REGISTRY`."""

from . import files  # noqa: F401  (registers read_file, write_file, edit_file, list_files)
from .base import REGISTRY, ToolContext, ToolError, ToolGate, agent_tool

__all__ = ["REGISTRY", "ToolContext", "ToolError", "ToolGate", "agent_tool"]
