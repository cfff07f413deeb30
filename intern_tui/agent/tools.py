"""How our tools are described to the model: one smolagents `Tool` per ToolSpec.

These objects stay in the session process. Agent code never gets them: the worker process (sandbox/) has
only stubs that send each call back here, where `FunctionTool.forward` hands it to the ToolGate.
"""

from __future__ import annotations

from smolagents.tools import Tool

from ..tools.base import ToolGate, ToolSpec


class FunctionTool(Tool):
    """A smolagents Tool built from one of our ToolSpecs: its name, description and inputs are what the model
    reads in the system prompt; calling it goes through the gate."""

    skip_forward_signature_validation = True

    def __init__(self, spec: ToolSpec, gate: ToolGate):
        self.name = spec.name
        self.description = spec.description + (
            "\nNeeds human approval: the call blocks until decided; a denial raises an error with the reason."
            if spec.sensitive
            else ""
        )
        self.inputs = spec.inputs
        self.output_type = spec.output_type
        self._gate = gate
        super().__init__()

    def forward(self, *args, **kwargs):
        return self._gate.invoke(self.name, args, kwargs)
