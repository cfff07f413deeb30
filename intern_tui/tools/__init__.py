"""The agent's toolbelt. Importing this package registers every tool in `base.REGISTRY`."""

# Importing the modules registers their tools (files, research, Hub, publishing, planning).
from . import api_lookup, contamination, evaluate, files, hub, jobs, papers, planning, publish, synthetic  # noqa: F401
from .base import REGISTRY, ToolContext, ToolError, ToolGate, agent_tool

__all__ = ["REGISTRY", "ToolContext", "ToolError", "ToolGate", "agent_tool"]
