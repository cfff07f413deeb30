"""Training templates: self-contained, identical shared helpers, valid PEP 723 headers, small data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest

from intern_tui.templates import DATA_FILES, EVAL_FILES, TEMPLATE_DIR, TEMPLATES, install

SHARED = re.compile(r"# --- intern-tui template helpers.*?# --- end of shared helpers", re.S)


def _source(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def test_shared_helper_block_is_identical_in_every_template():
    blocks = {name: SHARED.search(_source(name)).group(0) for name in TEMPLATES.values()}
    assert len(set(blocks.values())) == 1, "edit the helper block in all three templates alike"


@pytest.mark.parametrize("name", sorted(TEMPLATES.values()))
def test_templates_are_self_contained_uv_scripts(name):
    source = _source(name)
    block = re.search(r"^# /// script\n((?:#.*\n)*?)# ///$", source, re.M)
    assert block, "PEP 723 metadata block missing"
    meta = tomllib.loads("".join(line[2:] + "\n" for line in block.group(1).splitlines()))
    deps = " ".join(meta["dependencies"])
    for package in ("torch", "transformers", "trl", "datasets", "tokenizers"):
        assert package in deps
    assert "intern_tui" not in source  # HF Jobs run the file alone
    compile(source, name, "exec")


@pytest.mark.parametrize(
    "name, columns, rows",
    [("data/sft.jsonl", {"messages"}, 240), ("data/dpo.jsonl", {"prompt", "chosen", "rejected"}, 240),
     ("data/grpo.jsonl", {"prompt", "answer"}, 160)],
)  # fmt: skip
def test_bundled_datasets(name, columns, rows):
    lines = (TEMPLATE_DIR / name).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == rows and all(set(r) == columns for r in records)
    assert (TEMPLATE_DIR / name).stat().st_size < 100_000


def test_install_copies_without_clobbering(tmp_path):
    written = install(tmp_path)
    assert sorted(written) == sorted([*TEMPLATES.values(), *DATA_FILES, *EVAL_FILES])
    (tmp_path / "train_sft.py").write_text("# edited by the agent\n")
    assert install(tmp_path) == []
    assert (tmp_path / "train_sft.py").read_text() == "# edited by the agent\n"


def test_bad_input_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TEMPLATE_DIR / "train_sft.py"), "--dataset", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: dataset file {tmp_path / 'missing.jsonl'} not found"]


def test_templates_print_the_marker_the_parser_reads():
    from intern_tui.jobs.metrics import STDOUT_MARKER

    for name in TEMPLATES.values():
        assert f'METRIC_MARKER = "{STDOUT_MARKER}"' in _source(name)


@pytest.mark.parametrize("name", sorted(TEMPLATES.values()))
def test_templates_report_to_trackio_when_it_is_installed(name, monkeypatch, capsys):
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"template_{name[:-3]}", TEMPLATE_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("INTERN_TUI_JOB_ID", "job-12345678")
    monkeypatch.setenv("TRACKIO_DIR", "/data/trackio")
    args = argparse.Namespace(report_to="auto", project="intern-tui")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util, "find_spec", lambda n: None if n == "trackio" else real_find_spec(n)
    )
    assert module.tracking_kwargs(args) == {"report_to": "none", "run_name": "job-12345678"}
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda n: object())
    assert module.tracking_kwargs(args) == {
        "report_to": "trackio",
        "run_name": "job-12345678",
        "project": "intern-tui",
    }
    marker, info = capsys.readouterr().out.strip().split(" ", 1)
    assert marker == "@@intern-tui-trackio@@"
    assert json.loads(info) == {
        "project": "intern-tui",
        "dir": "/data/trackio",
        "command": "trackio show --project intern-tui",
    }
