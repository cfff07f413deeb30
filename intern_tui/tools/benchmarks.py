"""The benchmarks `evaluate` knows, and where their items come from (for the contamination guard).

Two kinds:
- **bundled** benchmarks ship with intern-tui as a small JSONL file of multiple-choice items and are scored
  by the eval template itself (log-likelihood of each choice, with transformers): they run offline, on a
  CPU, in seconds. `tiny-arith` is the one the demo and the tests use.
- **inspect** benchmarks are the standard ones, run through inspect-evals (`inspect_evals/<task>`) with
  the model served by transformers (or vLLM when it is installed and a GPU is present). These are the
  evaluations PostTrainBench ranks agents on. They need `pip install inspect-ai inspect-evals` on the box
  that runs the job, and the dataset download the task does.

Items of the benchmarks in use are what the contamination guard compares training data with: bundled
ones are always at hand; an inspect benchmark's items are saved by the eval job into the workspace
(`evals/<name>.items.jsonl`) the first time it runs locally.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..templates import TEMPLATE_DIR
from .base import ToolError


@dataclass(frozen=True)
class Benchmark:
    name: str
    engine: str  # "bundled" | "inspect"
    task: str  # the bundled file, or the inspect task id
    metric: str
    about: str
    dataset: str | None = None  # Hub dataset the task reads (informational)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "tiny-arith",
            "bundled",
            "data/tiny_arith.jsonl",
            "accuracy",
            "40 held-out arithmetic questions, 4 choices, log-likelihood scoring; offline, seconds on CPU",
        ),
        Benchmark("gsm8k", "inspect", "inspect_evals/gsm8k", "accuracy", "grade-school maths", "openai/gsm8k"),
        Benchmark("gpqa_diamond", "inspect", "inspect_evals/gpqa_diamond", "accuracy", "graduate-level science MCQ", "Idavidrein/gpqa"),
        Benchmark("humaneval", "inspect", "inspect_evals/humaneval", "accuracy", "Python function synthesis (runs code in a sandbox)", "openai/openai_humaneval"),
        Benchmark("aime2024", "inspect", "inspect_evals/aime2024", "accuracy", "AIME 2024 competition maths", "Maxwell-Jia/AIME_2024"),
        Benchmark("aime2025", "inspect", "inspect_evals/aime2025", "accuracy", "AIME 2025 competition maths", "math-ai/aime25"),
        Benchmark("bfcl", "inspect", "inspect_evals/bfcl", "accuracy", "Berkeley function-calling leaderboard", "gorilla-llm/Berkeley-Function-Calling-Leaderboard"),
        Benchmark("mmlu_0_shot", "inspect", "inspect_evals/mmlu_0_shot", "accuracy", "MMLU, zero-shot", "cais/mmlu"),
        Benchmark("arc_challenge", "inspect", "inspect_evals/arc_challenge", "accuracy", "ARC-Challenge science MCQ", "allenai/ai2_arc"),
        Benchmark("ifeval", "inspect", "inspect_evals/ifeval", "final_acc", "instruction following", "google/IFEval"),
    )
}  # fmt: skip

_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)*(@\w+)?$")


def resolve(name: str) -> Benchmark:
    """A benchmark by name; also any other inspect-evals task (`inspect_evals/<task>` or a bare name the
    user knows exists), run through inspect."""
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise ToolError(f"benchmark must be a name such as 'tiny-arith' or 'gsm8k', not {name!r}")
    key = name.strip().removeprefix("inspect_evals/")
    if key in BENCHMARKS:
        return BENCHMARKS[key]
    if name.startswith("inspect_evals/"):
        return Benchmark(key, "inspect", name, "accuracy", "an inspect-evals task")
    if re.match(r"^[\w./-]+\.py(@\w+)?$", name) and ".." not in name:  # an inspect task file in the workspace
        return Benchmark(name, "inspect", name, "accuracy", "an inspect task file")
    known = ", ".join(BENCHMARKS)
    raise ToolError(
        f"unknown benchmark {name!r}; known: {known} (or any inspect-evals task as 'inspect_evals/<task>')"
    )


def named_in(text: str) -> list[str]:
    """Benchmarks a task description mentions ("…better at GSM8K…" → ["gsm8k"])."""
    lowered = (text or "").lower()
    found = []
    for name in BENCHMARKS:
        variants = {name, name.replace("_", " "), name.replace("_", "-"), name.split("_")[0]}
        if any(re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", lowered) for v in variants if len(v) > 3):
            found.append(name)
    return found


def items_path(workspace: Path, bench: Benchmark) -> Path:
    """Where a benchmark's items are on this machine (the file may not exist for inspect benchmarks)."""
    if bench.engine == "bundled":
        local = workspace / "templates" / bench.task
        return local if local.is_file() else TEMPLATE_DIR / bench.task
    return workspace / "evals" / f"{bench.name}.items.jsonl"


def load_items(workspace: Path, bench: Benchmark) -> list[str] | None:
    """Each item as one text (question and reference answer), or None when the items are not here."""
    path = items_path(workspace, bench)
    if not path.is_file():
        return None
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                texts.append(item_text(json.loads(line)))
            except ValueError:
                continue
    return texts


def item_text(item: dict[str, Any]) -> str:
    """The text an item would leak if it were trained on: its question and its right answer."""
    question = item.get("question") or item.get("input") or item.get("prompt") or ""
    if isinstance(question, list):  # chat messages
        question = " ".join(str(m.get("content", "")) for m in question if isinstance(m, dict))
    answer = item.get("target") or item.get("answer_text") or ""
    choices = item.get("choices")
    if not answer and isinstance(choices, list) and isinstance(item.get("answer"), int):
        answer = choices[item["answer"]]
    if isinstance(answer, list):
        answer = " ".join(map(str, answer))
    return f"{question} {answer}".strip()


# -- which benchmarks a session uses -------------------------------------------------------------------


def in_use(workspace: Path, task: str = "") -> list[str]:
    """Benchmarks this session evaluated (recorded in `evals/in_use.json`) or whose names its task uses."""
    names = list(named_in(task))
    try:
        recorded = json.loads((workspace / "evals" / "in_use.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = []
    for name in recorded if isinstance(recorded, list) else []:
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def mark_in_use(workspace: Path, name: str) -> None:
    path = workspace / "evals" / "in_use.json"
    names = in_use(workspace)
    if name in names:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([*names, name]), encoding="utf-8")
    tmp.replace(path)


def research_setting(settings: dict[str, Any], key: str, default: Any) -> Any:
    """A research setting: the session's own (`settings`), else `[research]` in config.toml, else
    `default`. The config file is read once per session."""
    if key in settings:
        return settings[key]
    section = settings.get("_research_config")
    if section is None:
        try:
            from ..config import load_config

            section = load_config().section("research")
        except Exception:  # a broken config was reported at startup; the defaults apply here
            section = {}
        settings["_research_config"] = section
    return section.get(key, default)
