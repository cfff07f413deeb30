"""Training templates the agent starts from: self-contained TRL scripts (SFT, DPO, GRPO) + tiny datasets,
and the eval template with its bundled benchmark.

Each template runs on its own (PEP 723 dependencies, no intern-tui import), so the same file works as a
local job and on Hugging Face Jobs. `install(workspace)` copies them, and `data/`, into a workspace.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent
TEMPLATES = {
    "sft": "train_sft.py",
    "dpo": "train_dpo.py",
    "grpo": "train_grpo.py",
}
DATA_FILES = ("data/sft.jsonl", "data/dpo.jsonl", "data/grpo.jsonl")
# The eval template (what the `evaluate` tool runs) and the bundled offline benchmark it scores.
EVAL_FILES = ("eval_model.py", "data/tiny_arith.jsonl")


def install(workspace: Path, *, overwrite: bool = False) -> list[str]:
    """Copy the templates and their example data into `workspace`; returns the paths written (relative).
    Existing files are kept unless `overwrite` (the agent may have edited them)."""
    written = []
    for rel in (*TEMPLATES.values(), *DATA_FILES, *EVAL_FILES):
        target = Path(workspace) / rel
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATE_DIR / rel, target)
        written.append(rel)
    return written
