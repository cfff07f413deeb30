"""push_to_hub through the approval path (fake Hub client recording calls) and plan() events."""

from __future__ import annotations

import pytest
from research_fakes import Approver, FakeHubApi, Session

from intern_tui.tools.base import ApprovalDenied, ToolError


def workspace_with_model(s: Session) -> None:
    out = s.ctx.workspace / "outputs" / "final"
    out.mkdir(parents=True)
    (out / "config.json").write_text('{"model_type": "llama", "pad_token": "<pad>"}')
    (out / "model.safetensors").write_bytes(b"\0" * 2048)
    (out / "README.md").write_text("# tiny model\n")
    (out / "checkpoint-10").mkdir()
    (out / "checkpoint-10" / "optimizer.pt").write_bytes(b"\0" * 4096)
    (s.ctx.workspace / ".cache").mkdir(exist_ok=True)


def make(tmp_path, api=None, approver=None) -> Session:
    s = Session(tmp_path / "ws", hub_api=api or FakeHubApi(), approvals=approver or Approver())
    s.ctx.workspace.mkdir(parents=True, exist_ok=True)
    return s


# -- push_to_hub ----------------------------------------------------------------------------------


def test_folder_upload_is_private_by_default_and_asks_first(tmp_path):
    api, approver = FakeHubApi(), Approver()
    s = make(tmp_path, api, approver)
    workspace_with_model(s)
    out = s.call("push_to_hub", "outputs/final", "me/tiny-sft")
    tool, arguments, estimate = approver.requests[0]
    assert tool == "push_to_hub" and arguments == {"path": "outputs/final", "repo_id": "me/tiny-sft"}
    assert estimate == {
        "gpu_hours": 0,
        "usd": 0,
        "summary": "upload 3 files (2.1 KB) to me/tiny-sft (private)",
    }
    assert api.names() == ["repo_info", "create_repo", "upload_folder"]
    create = api.calls[1][1]
    assert create["private"] is True and create["exist_ok"] is True and create["repo_type"] == "model"
    upload = api.calls[2][1]
    assert (
        upload["folder_path"] == str(s.ctx.workspace / "outputs" / "final")
        and upload["repo_id"] == "me/tiny-sft"
    )
    assert "checkpoint-*/**" in upload["ignore_patterns"] and upload["commit_message"].startswith(
        "Upload outputs/final"
    )
    assert out == {
        "repo_id": "me/tiny-sft",
        "repo_type": "model",
        "private": True,
        "url": "https://huggingface.co/me/tiny-sft",
        "files": 3,
        "bytes": 2048 + len('{"model_type": "llama", "pad_token": "<pad>"}') + len("# tiny model\n"),
        "commit": "https://huggingface.co/me/tiny-sft/commit/def456",
        "created": True,
    }
    assert s.kinds() == ["tool_call", "tool_result"]


def test_single_file_to_a_dataset_repo(tmp_path):
    api = FakeHubApi(repos={"me/data": True})
    s = make(tmp_path, api)
    (s.ctx.workspace / "data").mkdir()
    (s.ctx.workspace / "data" / "train.jsonl").write_text('{"text": "hi"}\n')
    out = s.call(
        "push_to_hub", "data/train.jsonl", "me/data", repo_type="dataset", path_in_repo="train.jsonl"
    )
    upload = api.calls[-1]
    assert (
        upload[0] == "upload_file"
        and upload[1]["path_in_repo"] == "train.jsonl"
        and upload[1]["repo_type"] == "dataset"
    )
    assert (
        out["url"] == "https://huggingface.co/datasets/me/data"
        and out["created"] is False
        and out["private"] is True
    )


def test_existing_public_repo_is_refused_unless_private_false(tmp_path):
    api = FakeHubApi(repos={"me/public-model": False})
    s = make(tmp_path, api)
    (s.ctx.workspace / "card.md").write_text("# card\n")
    with pytest.raises(
        ToolError, match=r"me/public-model is a PUBLIC model repo; nothing was uploaded. Pass private=False"
    ):
        s.call("push_to_hub", "card.md", "me/public-model")
    assert api.names() == ["repo_info"], "nothing created or uploaded"
    out = s.call("push_to_hub", "card.md", "me/public-model", private=False)
    assert out["private"] is False and api.names()[-1] == "upload_file"
    assert api.calls[-2][1]["private"] is False


def test_public_upload_is_shouted_in_the_approval_summary(tmp_path):
    approver = Approver()
    s = make(tmp_path, approver=approver)
    (s.ctx.workspace / "card.md").write_text("# card\n")
    s.call("push_to_hub", "card.md", "me/new", private=False)
    assert approver.requests[0][2]["summary"] == "upload 1 files (7 B) to me/new (PUBLIC)"


def test_denied_upload_does_nothing(tmp_path):
    api = FakeHubApi()
    s = make(tmp_path, api, Approver(approve=False, reason="not yet, evaluate first"))
    (s.ctx.workspace / "card.md").write_text("# card\n")
    with pytest.raises(ApprovalDenied, match="push_to_hub was denied: not yet, evaluate first"):
        s.call("push_to_hub", "card.md", "me/x")
    assert api.calls == []


def test_no_token_is_a_clear_error(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    api = FakeHubApi(token=None)
    s = make(tmp_path, api)
    (s.ctx.workspace / "card.md").write_text("# card\n")
    with pytest.raises(ToolError, match=r"set HF_TOKEN or run `hf auth login`"):
        s.call("push_to_hub", "card.md", "me/x")
    assert api.calls == []


def test_paths_outside_the_workspace_are_refused(tmp_path):
    api = FakeHubApi()
    s = make(tmp_path, api)
    (tmp_path / "private.txt").write_text("do not upload")
    for bad, message in [
        ("../private.txt", "leaves the workspace"),
        (str(tmp_path / "private.txt"), "is absolute"),
        ("nothing-here", "no file or folder"),
    ]:
        with pytest.raises(ToolError, match=message):
            s.call("push_to_hub", bad, "me/x")
    assert api.calls == []


def test_symlinks_inside_a_folder_are_refused(tmp_path):
    api = FakeHubApi()
    s = make(tmp_path, api)
    (tmp_path / "outside.txt").write_text("secret")
    (s.ctx.workspace / "out").mkdir()
    (s.ctx.workspace / "out" / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ToolError, match="out/link.txt is a symlink"):
        s.call("push_to_hub", "out", "me/x")
    assert api.calls == []


def test_files_containing_a_token_are_never_uploaded(tmp_path):
    api = FakeHubApi()
    s = make(tmp_path, api)
    (s.ctx.workspace / "train.py").write_text('HF = "hf_' + "a1B2c3D4e5F6g7H8i9J0kLmN" + '"\n')
    with pytest.raises(ToolError, match=r"train.py contains what looks like a secret"):
        s.call("push_to_hub", "train.py", "me/x")
    assert api.calls == []


def test_bad_repo_arguments(tmp_path):
    s = make(tmp_path)
    (s.ctx.workspace / "a.md").write_text("a")
    with pytest.raises(ToolError, match="repo_type must be"):
        s.call("push_to_hub", "a.md", "me/x", repo_type="space")
    with pytest.raises(ToolError, match="not a valid Hub repo id"):
        s.call("push_to_hub", "a.md", "me/x/y")


# -- plan -----------------------------------------------------------------------------------------


def test_plan_keeps_the_list_and_emits_an_event(tmp_path):
    s = Session(tmp_path / "ws")
    text = s.call(
        "plan",
        [
            "[x] Inspect the dataset",
            {"item": "Smoke-test SFT", "status": "in progress"},
            {"text": "Evaluate", "status": "todo"},
            "- [ ] Push the model",
        ],
    )
    items = [
        {"text": "Inspect the dataset", "status": "done"},
        {"text": "Smoke-test SFT", "status": "in_progress"},
        {"text": "Evaluate", "status": "pending"},
        {"text": "Push the model", "status": "pending"},
    ]
    assert s.ctx.plan == items
    events = s.drain()
    assert [e.kind for e in events] == ["tool_call", "plan", "tool_result"]
    assert events[1].payload == {"items": items}
    assert text == (
        "Plan (1/4 done):\n[x] Inspect the dataset\n[>] Smoke-test SFT\n[ ] Evaluate\n[ ] Push the model"
    )
    assert s.call("plan") == text, "no argument: show the current plan without an event"
    assert [e.kind for e in s.drain()[3:]] == ["tool_call", "tool_result"]


def test_plan_replaces_and_accepts_a_multiline_string(tmp_path):
    s = Session(tmp_path / "ws")
    s.call("plan", ["a", "b"])
    s.call("plan", "[x] a\n\n[x] b\n[ ] c")
    assert [i["status"] for i in s.ctx.plan] == ["done", "done", "pending"]
    plans = [e.payload for e in s.drain() if e.kind == "plan"]
    assert len(plans) == 2 and len(plans[1]["items"]) == 3


def test_plan_rejects_bad_items_without_changing_the_plan(tmp_path):
    s = Session(tmp_path / "ws")
    s.call("plan", ["keep me"])
    with pytest.raises(ToolError, match=r"item 2: status 'blocked' is not one of pending, in_progress, done"):
        s.call("plan", ["a", {"text": "b", "status": "blocked"}])
    with pytest.raises(ToolError, match="item 1 has no text"):
        s.call("plan", [{"status": "done"}])
    with pytest.raises(ToolError, match="item 1 is a int"):
        s.call("plan", [3])
    assert s.ctx.plan == [{"text": "keep me", "status": "pending"}]
    assert sum(e.kind == "plan" for e in s.drain()) == 1


def test_secret_scan_reads_big_text_files_across_chunk_boundaries(tmp_path):
    from intern_tui.tools.publish import _contains_secret

    big = tmp_path / "train_log.txt"
    big.write_text("a" * 1_999_989 + " hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 and more")  # spans the 2 MB cut
    assert _contains_secret(big, [])
    big.write_text("a" * 3_000_000)
    assert not _contains_secret(big, [])
