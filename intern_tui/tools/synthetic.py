"""`generate_data`: synthetic training examples from an LLM (the session's model or any litellm model),
written as JSONL in the workspace.

Before any call it estimates the cost (litellm's price table × the tokens the requests will take); above
the budget (`[research] generate_budget_usd`, default $0.50) or when the price is unknown it asks for
approval like any spending tool. The rows that come back are parsed, checked for the columns the format
needs, deduplicated (also against each other after normalising case and spaces), stripped of anything
that overlaps the session's eval sets (the contamination guard), checked with the same quality checks as
`inspect_dataset`, and written as one versioned file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .base import ApprovalDenied, ToolContext, ToolError, agent_tool
from .benchmarks import research_setting
from .contamination import eval_indexes
from .dataset_checks import column_kinds, quality, summarize_issues, trainer_fit
from .files import _workspace

FORMATS = {
    "prompt_completion": ("prompt", "completion"),  # SFT
    "messages": ("user", "assistant"),  # SFT, chat: written as {"messages": [...]}
    "preference": ("prompt", "chosen", "rejected"),  # DPO
    "prompt_answer": ("prompt", "answer"),  # GRPO with a reference answer
}
DEFAULT_BUDGET_USD = 0.50
MAX_ROWS = 2000
OUTPUT_TOKENS_PER_ROW = 120  # a guess for the estimate when no examples show the length
LOCAL_PROVIDERS = ("ollama/", "ollama_chat/", "hosted_vllm/", "lm_studio/", "llamafile/")


def _system_prompt(columns: tuple[str, ...]) -> str:
    keys = ", ".join(f'"{c}"' for c in columns)
    return (
        "You write training data for fine-tuning language models. Reply with JSON Lines only: one JSON "
        f"object per line, with exactly the string keys {keys}, and nothing else (no numbering, no prose, "
        "no code fences). Make every example different from the others and from the examples shown."
    )


def _user_prompt(instruction: str, examples: list[dict], count: int) -> str:
    shown = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples[:5])
    return (
        f"{instruction.strip()}\n\n"
        + (f"Examples of the format:\n{shown}\n" if shown else "")
        + (f"Write {count} new examples.")
    )


def _is_local(model: str, api_base: str | None) -> bool:
    return model.startswith(LOCAL_PROVIDERS) or bool(
        api_base and re.search(r"//(127\.|localhost|\[::1\])", api_base)
    )


def estimate_cost(
    model: str, api_base: str | None, prompt_chars: int, calls: int, out_tokens: int
) -> float | None:
    """Dollars for `calls` requests of about `prompt_chars` each producing `out_tokens`; None if unknown."""
    if _is_local(model, api_base):
        return 0.0
    import litellm

    try:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_chars // 4 + 20, completion_tokens=out_tokens
        )
    except Exception:
        return None
    return round((prompt_usd + completion_usd) * calls, 4)


def parse_rows(text: str, columns: tuple[str, ...]) -> tuple[list[dict[str, str]], int]:
    """The JSON objects in a reply that have every column as a non-empty string; and how many didn't."""
    rows, bad = [], 0
    for raw in text.splitlines():
        raw = raw.strip().strip(",")
        if not raw or raw.startswith("```"):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            bad += 1
            continue
        if not isinstance(obj, dict) or not all(
            isinstance(obj.get(c), str) and obj[c].strip() for c in columns
        ):
            bad += 1
            continue
        rows.append({c: obj[c].strip() for c in columns})
    return rows, bad


def _key(row: dict[str, str]) -> str:
    return json.dumps({k: " ".join(v.lower().split()) for k, v in row.items()}, sort_keys=True)


def _as_written(row: dict[str, str], fmt: str) -> dict[str, Any]:
    if fmt == "messages":
        return {
            "messages": [
                {"role": "user", "content": row["user"]},
                {"role": "assistant", "content": row["assistant"]},
            ]
        }
    return row


@agent_tool(output_type="object")
def generate_data(
    ctx: ToolContext,
    instruction: str,
    n: int = 20,
    path: str = "data/synthetic.jsonl",
    format: str = "prompt_completion",
    examples: list | None = None,
    model: str | None = None,
    batch_size: int = 10,
    temperature: float = 0.8,
) -> dict:
    """Generate synthetic training examples with an LLM and write them as JSONL in the workspace:
    deduplicated, stripped of eval-set overlap, quality-checked. Asks for approval when the estimated
    cost is above the budget or unknown.

    Args:
        instruction: What to generate, e.g. 'Grade-school word problems with a short worked answer'.
        n: How many examples (at most 2000).
        path: Where to write them (JSONL, in the workspace).
        format: 'prompt_completion' (SFT), 'messages' (SFT, chat), 'preference' (DPO: prompt, chosen,
            rejected) or 'prompt_answer' (GRPO with a reference answer).
        examples: A few example rows in that format, to steer style and length.
        model: A litellm model id; default the session's model.
        batch_size: Examples asked for per request.
        temperature: Sampling temperature.
    """
    if format not in FORMATS:
        raise ToolError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    columns = FORMATS[format]
    if not isinstance(n, int) or not 1 <= n <= MAX_ROWS:
        raise ToolError(f"n must be a whole number between 1 and {MAX_ROWS}")
    if not isinstance(instruction, str) or not instruction.strip():
        raise ToolError("instruction must say what to generate")
    examples = [e for e in (examples or []) if isinstance(e, dict)]
    target = _workspace(ctx).resolve(path)  # refuses paths outside the workspace before anything is spent
    llm = model or ctx.settings.get("llm")
    api_base = ctx.settings.get("api_base") if not model or model == ctx.settings.get("llm") else None
    if not llm or llm.startswith("script:"):
        raise ToolError(
            "generate_data needs an LLM and this session runs a script: policy; pass model='…' "
            "(any litellm id, e.g. 'openai/gpt-4o-mini' or 'ollama/qwen3')"
        )
    batch_size = max(1, min(int(batch_size), 50))
    calls = math.ceil(n / batch_size)
    system = _system_prompt(columns)
    prompt_chars = len(system) + len(_user_prompt(instruction, examples, batch_size))
    per_row = max((len(json.dumps(e)) // 4 for e in examples), default=OUTPUT_TOKENS_PER_ROW)
    usd = estimate_cost(llm, api_base, prompt_chars, calls, per_row * batch_size)
    budget = float(research_setting(ctx.settings, "generate_budget_usd", DEFAULT_BUDGET_USD))
    estimate = {
        "usd": usd,
        "gpu_hours": 0.0,
        "summary": f"{calls} request(s) to {llm} for {n} examples: "
        + (f"about ${usd:.4f}" if usd is not None else "price unknown"),
    }
    if usd is None or usd > budget:
        if ctx.approvals is None:
            raise ApprovalDenied("generate_data needs approval above the budget and no approver is attached")
        arguments = {"instruction": instruction, "n": n, "path": path, "format": format, "model": llm}
        decision = ctx.approvals.request("generate_data", arguments, estimate)
        if not decision.approved:
            raise ApprovalDenied(f"generate_data was denied: {decision.reason or 'no reason given'}")

    import litellm  # deferred: seconds to import

    litellm.suppress_debug_info = True
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    stats = {"calls": 0, "invalid": 0, "duplicates": 0, "contaminated": 0, "cost_usd": 0.0}
    indexes, _ = eval_indexes(ctx)
    for _ in range(calls + 2):  # two more rounds make up for dropped rows
        if len(rows) >= n:
            break
        ask = min(batch_size, n - len(rows))
        try:
            reply = litellm.completion(
                model=llm,
                api_base=api_base,
                temperature=temperature,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": _user_prompt(instruction, examples + rows[-3:], ask)},
                ],
            )
        except Exception as exc:
            if not rows:
                raise ToolError(
                    f"generate_data: the model call failed: {' '.join(str(exc).split())[:300]}"
                ) from None
            break  # keep what we have
        stats["calls"] += 1
        try:
            stats["cost_usd"] += float(litellm.completion_cost(completion_response=reply) or 0.0)
        except Exception:
            pass
        got, bad = parse_rows(reply.choices[0].message.content or "", columns)
        stats["invalid"] += bad
        for row in got:
            key = _key(row)
            if key in seen or any(_key({c: e.get(c, "") for c in columns}) == key for e in examples):
                stats["duplicates"] += 1
                continue
            text = " ".join(row.values())
            if any(index.matches(text) for index in indexes):
                stats["contaminated"] += 1
                continue
            seen.add(key)
            rows.append(row)
    if not rows:
        raise ToolError(
            f"generate_data: the model returned no usable rows ({stats['invalid']} malformed); "
            "make the instruction more explicit or give examples"
        )
    written = [_as_written(r, format) for r in rows[:n]]
    content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written)
    result = _workspace(ctx).write_text(ctx, _workspace(ctx).relative(target), content)
    kinds = column_kinds(written)
    fits = trainer_fit(kinds, written)
    checks = quality(written)
    return {
        "path": result["path"],
        "written": len(written),
        "requested": n,
        "dropped": {k: stats[k] for k in ("invalid", "duplicates", "contaminated")},
        "calls": stats["calls"],
        "cost_usd": round(stats["cost_usd"], 6),
        "fits": [name.upper() for name, fit in fits.items() if fit.get("fits")],
        "quality": checks,
        "issues": summarize_issues(checks, fits, kinds, len(written)),
        "sample": written[:2],
    }
