"""Shared test setup: offline everywhere, a private home per test, and a guard against network use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from helpers import write_config

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
os.environ.update(OFFLINE_ENV)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never use the network: any connection to a non-local address fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)
        raise OSError(f"network access attempted in a test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh intern-tui home; also exported so subprocesses and the CLI use it."""
    path = tmp_path / "home"
    monkeypatch.setenv("INTERN_TUI_HOME", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    write_config(path, "")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture
def runtime(home):
    """A process runtime (store, bus, writer) over the test's home."""
    from intern_tui.agent.session import Runtime

    rt = Runtime.open(home)
    yield rt
    rt.close()


@pytest.fixture
def cp():
    """Test-only tools that hold the agent at a precise point (see helpers.Checkpoints)."""
    from helpers import Checkpoints

    checkpoints = Checkpoints().install()
    yield checkpoints
    checkpoints.uninstall()
