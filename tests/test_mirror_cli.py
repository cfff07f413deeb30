"""`intern-tui mirror status|push`, the [mirror] config, one-line errors, and the schema v2 migration."""

import argparse
import sqlite3
from pathlib import Path

import pytest
from helpers import running_store, write_config
from mirror_fakes import FakeHub, emit_session, http_error

from intern_tui.bus import Emitter
from intern_tui.commands import mirror as mirror_cmd
from intern_tui.errors import BadInput, InternError
from intern_tui.mirror import MirrorSettings
from intern_tui.mirror.settings import normalize_repo_id
from intern_tui.store import SCHEMA_VERSION, open_store, schema
from intern_tui.store import db as store_db

REPO = "alice/intern-tui-sessions"
REPO_ROOT = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intern-tui mirror")
    mirror_cmd.add_arguments(parser)
    return parser.parse_args(argv)


def cli(store, hub, *argv: str) -> tuple[int, str]:
    """Run the command the way cli.main does: an InternError becomes one line and its exit code."""
    try:
        return mirror_cmd.run(parse(*argv), store, api=hub), ""
    except InternError as exc:
        return exc.exit_code, exc.message


@pytest.fixture
def store_with_sessions(home):
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "260101-1200-aaaa"))
        emit_session(Emitter(bus, "260101-1300-bbbb"), end=False)
        writer.flush()
    return open_store(home)


def test_push_all_prints_progress_and_status_reports_synced(store_with_sessions, tmp_path, capsys):
    hub = FakeHub(tmp_path / "hub")
    code, _ = cli(store_with_sessions, hub, "push")
    out = capsys.readouterr().out
    assert code == 0
    assert "  260101-1200-aaaa: pushed 4 files" in out  # shard, trace, meta, card
    assert out.strip().endswith(f"pushed 2 sessions (7 files) to datasets/{REPO}")
    code, _ = cli(store_with_sessions, hub, "push")
    assert code == 0 and f"nothing to push: everything is on datasets/{REPO}" in capsys.readouterr().out
    code, _ = cli(store_with_sessions, hub, "status")
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == f"target    datasets/{REPO}   private"
    assert "all sessions synced" in out


def test_push_one_session_by_prefix(store_with_sessions, tmp_path, capsys):
    hub = FakeHub(tmp_path / "hub")
    code, _ = cli(store_with_sessions, hub, "push", "260101-13")
    assert code == 0
    assert {p.split("/")[1] for p in hub.files(REPO) if p.startswith("sessions/")} == {"260101-1300-bbbb"}
    code, _ = cli(store_with_sessions, hub, "status")
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("260101-1200-aaaa"))
    assert line.split()[1].startswith("0/")  # nothing of it on the Hub yet
    assert "1 of 2 sessions not fully on the Hub" in out


@pytest.mark.parametrize(
    "break_hub, kind_text",
    [
        (
            lambda hub: setattr(hub, "user", None),
            "no Hugging Face token: set HF_TOKEN or run `hf auth login`",
        ),
        (lambda hub: setattr(hub, "offline", True), "offline (HF_HUB_OFFLINE=1)"),
        (
            lambda hub: hub.error_on.__setitem__("create_commit", http_error(403)),
            f"no permission to write to datasets/{REPO} (403)",
        ),
        (
            lambda hub: hub.error_on.__setitem__("whoami", http_error(401)),
            "the Hub rejected the token (401): set HF_TOKEN or run `hf auth login`",
        ),
        (lambda hub: hub.add_repo(REPO, repo_type="model"), f"{REPO} exists as a model repo, not a dataset"),
        (lambda hub: hub.add_repo(REPO, private=False), "refused: repo is public"),
    ],
)
def test_push_failures_are_one_clear_line_and_exit_1(
    store_with_sessions, tmp_path, capsys, break_hub, kind_text
):
    hub = FakeHub(tmp_path / "hub")
    break_hub(hub)
    code, message = cli(store_with_sessions, hub, "push")
    assert code == 1
    assert message.startswith("mirror push failed: ") and kind_text in message
    assert "\n" not in message and "Traceback" not in capsys.readouterr().err
    assert hub.files(REPO) == {}


def test_status_while_offline_still_lists_sessions(store_with_sessions, tmp_path, capsys):
    hub = FakeHub(tmp_path / "hub")
    hub.offline = True
    assert cli(store_with_sessions, hub, "status")[0] == 0
    out = capsys.readouterr().out
    assert "unknown (offline (HF_HUB_OFFLINE=1))" in out.splitlines()[0]
    assert "2 of 2 sessions not fully on the Hub" in out


def test_status_shows_failures_per_session(store_with_sessions, tmp_path, capsys):
    hub = FakeHub(tmp_path / "hub")
    hub.error_on["create_commit"] = http_error(503)
    assert cli(store_with_sessions, hub, "push")[0] == 1
    del hub.error_on["create_commit"]
    cli(store_with_sessions, hub, "status")
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("260101-1200-aaaa"))
    assert row.split()[3] == "1" and "the Hub is unavailable or rate-limiting (503)" in row


def test_config_repo_allow_public_and_opt_out(store_with_sessions, home, tmp_path, capsys):
    hub = FakeHub(tmp_path / "hub")
    hub.add_repo("team/shared-runs", private=False)
    write_config(home, '[mirror]\nrepo = "datasets/team/shared-runs"\n')
    code, message = cli(store_with_sessions, hub, "push")
    assert code == 1 and "refused: repo is public (datasets/team/shared-runs)" in message
    assert cli(store_with_sessions, hub, "push", "--allow-public")[0] == 0
    assert "sessions/260101-1200-aaaa/trace.jsonl" in hub.files("team/shared-runs")
    write_config(home, "[mirror]\nenabled = false\n")
    code, message = cli(store_with_sessions, hub, "push")
    assert code == 1 and "disabled" in message
    assert cli(store_with_sessions, hub, "status")[0] == 0
    assert "disabled ([mirror] enabled = false)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "section, error",
    [
        ({"enabled": "yes"}, "[mirror] enabled must be true or false"),
        ({"heartbeat_seconds": 0}, "[mirror] heartbeat_seconds must be a number >= 5"),
        ({"repo": 3}, "[mirror] repo must be a dataset id"),
        ({"repo": "spaces/me/app"}, "is a Space repo; the mirror needs a dataset repo"),
        ({"repo": "https://huggingface.co/me/model"}, "is a model URL"),
        ({"repo": "me/bad name"}, "is not a valid repo id"),
        ({"uplod_workspace": True}, "unknown key in [mirror]: uplod_workspace"),
    ],
)
def test_bad_mirror_config_is_a_clear_error(section, error):
    with pytest.raises(BadInput) as err:
        MirrorSettings.from_section(section)
    assert error in err.value.message


def test_repo_ids_and_default_target():
    assert normalize_repo_id("https://huggingface.co/datasets/me/runs/") == "me/runs"
    assert normalize_repo_id("datasets/me/runs") == "me/runs"
    assert normalize_repo_id("runs") == "runs"
    assert MirrorSettings().target_for("alice") == REPO
    assert MirrorSettings(repo="runs").target_for("alice") == "alice/runs"
    assert MirrorSettings(repo="org/runs").target_for("alice") == "org/runs"
    s = MirrorSettings.from_section({"repo": "me/x", "heartbeat_seconds": 60, "upload_workspace": True})
    assert (s.repo, s.heartbeat_seconds, s.upload_workspace, s.allow_public, s.enabled) == (
        "me/x",
        60,
        True,
        False,
        True,
    )


def test_a_v1_database_migrates_to_v2_keeping_its_events(home, monkeypatch):
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", 1)
    with running_store(home) as (store, bus, writer):
        emit_session(Emitter(bus, "old"))
        writer.flush()
    monkeypatch.undo()
    assert SCHEMA_VERSION == 3
    store = open_store(home)
    conn = sqlite3.connect(store.path)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
    assert "repo" in [r[1] for r in conn.execute("PRAGMA table_info(mirror_queue)")]
    assert [r[1] for r in conn.execute("PRAGMA table_info(mirror_state)")][:4] == [
        "repo",
        "session_id",
        "queued_seq",
        "pushed_seq",
    ]
    assert conn.execute("SELECT count(*) FROM events WHERE session_id='old'").fetchone()[0] > 10
    assert (home / "sessions.db.v1.bak").exists()


def test_the_real_hub_client_offline_and_without_a_token(store_with_sessions, monkeypatch, tmp_path):
    """No fake here: the real huggingface_hub client under HF_HUB_OFFLINE=1 (set for every test)."""
    import huggingface_hub.constants as hf_constants

    from intern_tui.mirror import Mirror

    monkeypatch.setenv("HF_TOKEN", "hf_NotARealTokenAbCdEfGhIjKlMnOp")
    mirror = Mirror(store_with_sessions, MirrorSettings())
    report = mirror.push()
    assert report.error.kind == "offline" and report.error.message == "offline (HF_HUB_OFFLINE=1)"
    assert str(mirror.status()) == "mirror: 2 pending, offline"
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    code, message = cli(store_with_sessions, None, "push")
    assert (
        code == 1
        and message == "mirror push failed: no Hugging Face token: set HF_TOKEN or run `hf auth login`"
    )


def test_status_line_for_the_tui_header(store_with_sessions, tmp_path):
    from intern_tui.mirror import Mirror

    hub = FakeHub(tmp_path / "hub", user=None)
    assert (
        str(Mirror(store_with_sessions, MirrorSettings(enabled=False), api=hub).status())
        == "mirror: disabled"
    )
    mirror = Mirror(store_with_sessions, MirrorSettings(), api=hub)
    assert str(mirror.status()) == "mirror: starting"
    assert mirror.sync_once().error.kind == "auth"
    assert str(mirror.status()) == (
        "mirror: 2 pending, no Hugging Face token: set HF_TOKEN or run `hf auth login`"
    )
    assert hub.calls == ["whoami"], "nothing else is tried without a token"


def test_importing_the_mirror_does_not_import_the_hub_client():
    import subprocess
    import sys

    code = (
        "import sys, intern_tui.mirror, intern_tui.commands.mirror; "
        "heavy = [m for m in ('huggingface_hub', 'httpx', 'sqlite_utils') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
