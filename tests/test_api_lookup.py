"""lookup_api: what the installed packages really offer, read in a separate process; names only imported."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from intern_tui.bus import Emitter, EventBus
from intern_tui.tools import ToolContext, ToolGate
from intern_tui.tools.base import ToolError


@pytest.fixture
def gate(tmp_path):
    ctx = ToolContext(session_id="s", workspace=tmp_path, emitter=Emitter(EventBus(), "s"))
    return ToolGate(ctx)


def test_a_trl_config_lists_its_fields_with_defaults_and_help_at_the_installed_version(gate):
    imported_before = "trl" in sys.modules
    out = gate.invoke("lookup_api", ("trl.GRPOConfig",), {"search": "beta"})
    assert out["kind"] == "dataclass" and out["version"] == importlib.metadata.version("trl")
    beta = next(f for f in out["fields"] if f["name"] == "beta")
    assert beta["default"] == "0.0" and "KL" in beta["help"]
    assert all("beta" in f["name"] or "beta" in f["help"].lower() for f in out["fields"])
    assert out["fields_total"] > len(out["fields"])
    assert imported_before or "trl" not in sys.modules  # imported in the probe process, not in ours


def test_functions_get_their_signature_and_the_docstring_is_cut(gate):
    out = gate.invoke(
        "lookup_api", ("transformers.AutoModelForCausalLM.from_pretrained",), {"max_chars": 200}
    )
    assert out["kind"] == "function" and out["signature"].startswith("from_pretrained(")
    assert len(out["doc"]) < 400 and "more characters" in out["doc"]


def test_a_typo_gets_suggestions(gate):
    with pytest.raises(ToolError, match="did you mean GRPOConfig"):
        gate.invoke("lookup_api", ("trl.GRPOConfg",), {})


@pytest.mark.parametrize(
    "name, why",
    [
        ("os.system", "reads these packages only"),
        ("subprocess.run", "reads these packages only"),
        ("trl.__class__", "plain identifiers only"),
        ("trl._version", "plain identifiers only"),
        ("trl.GRPOConfig()", "plain identifiers only"),
        ("trl; import os", "plain identifiers only"),
        ("", "plain identifiers only"),
    ],
)
def test_only_dotted_names_from_the_allowed_packages(gate, name, why):
    with pytest.raises(ToolError, match=why):
        gate.invoke("lookup_api", (name,), {})
