"""The packaging test: the wheel, built and installed outside the checkout, finds everything it ships.

`pip install intern-tui` must run `intern-tui demo` and load every bundled theme; a file that is read at run
time but not declared as package data is missing only from an installed copy, never from the checkout the
other tests run in. This builds the wheel from the source (scripts/check_install.py does the same, plus the
full demo with its training jobs), installs it with `--no-deps --target`, and runs it from a folder outside
the checkout with only the installed copy on PYTHONPATH.
"""

import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import check_install  # noqa: E402

pytestmark = pytest.mark.packaging

BUNDLED_THEMES = ["intern-contrast", "intern-dark", "intern-light"]


def test_the_installed_wheel_loads_every_theme_and_runs_the_demo(tmp_path):
    wheel = check_install.build_wheel(tmp_path / "build")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"intern_tui/themes/{t}.toml" for t in BUNDLED_THEMES} | {"intern_tui/demo/demo.jsonl"} <= names
    assert not any(n.startswith(("tests/", "sessions/", "themes/")) for n in names)

    target = tmp_path / "site"
    check_install.install(wheel, target)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = check_install.installed_env(target, tmp_path / "home")

    found = check_install.probe(target, outside, env)
    assert Path(found["file"]).parent == target / "intern_tui"  # not the checkout
    assert found["themes"] == BUNDLED_THEMES
    assert found["policy_turns"] > 5 and found["policy_has_code"]

    # The demo without --yes and without a terminal: its jobs are denied, the rest of the loop runs (the
    # policy, the templates copied into the workspace, the sandboxed worker) from the installed copy.
    detail = check_install.run_demo(target, outside, env, approve=False)
    assert detail["status"] == "done" and detail["model"] == f"script:{target / 'intern_tui/demo/demo.jsonl'}"
    assert ("launch_job", "denied") in [(a["tool"], a["status"]) for a in detail["approvals"]]
    assert {f["path"] for f in detail["files"]} >= {"data/train_mix.jsonl", "train_sft.py"}


def test_a_missing_resource_fails_the_check_with_its_name(tmp_path, monkeypatch):
    monkeypatch.setattr(check_install, "RESOURCES", (*check_install.RESOURCES, "themes/not-shipped.toml"))
    with pytest.raises(check_install.CheckFailed, match="the wheel lacks themes/not-shipped.toml"):
        check_install.build_wheel(tmp_path / "build")
