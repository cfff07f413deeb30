# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "torch>=2.4",
#     "transformers>=5.0",
#     "accelerate>=1.10",
#     "tokenizers>=0.21",
#     "inspect-ai>=0.3.100",
#     "inspect-evals",
# ]
# ///
"""Evaluate a model on a benchmark: the intern-tui eval template (what the `evaluate` tool runs as a job).

Two engines:
- **bundled** benchmarks (a JSONL of multiple-choice items, e.g. data/tiny_arith.jsonl) are scored here:
  the log-likelihood of each choice after the question, with transformers; the highest wins (`accuracy`;
  `accuracy_norm` divides by the choice's length). Offline, seconds on a CPU for a tiny model.
- **inspect** benchmarks (gsm8k, gpqa_diamond, humaneval, aime2024, bfcl, …) run through inspect-evals
  (`inspect_evals/<task>`), the model served by transformers (`hf/…`) or by vLLM when it is installed and
  a GPU is present. Needs `pip install inspect-ai inspect-evals` and the task's dataset download.

Each result is printed as one `@@intern-tui-eval@@ {json}` line (intern-tui turns it into an `eval_result`
event; on HF Jobs that line is the only way back) and appended to <output-dir>/eval_results.jsonl.

    python eval_model.py --model jobs/job-1a2b/output --benchmark tiny-arith --baseline jobs/job-1a2b/output/tiny-init
    python eval_model.py --model Qwen/Qwen3-1.7B-Base --benchmark inspect_evals/gsm8k --limit 200
"""

import argparse
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL_MARKER = "@@intern-tui-eval@@"
BUNDLED = {"tiny-arith": "tiny_arith.jsonl"}


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2 (bad input), instead of a traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Evaluate a model on a benchmark (intern-tui eval template).")
    p.add_argument("--model", required=True, help="Hub id or local path of the model to evaluate")
    p.add_argument("--benchmark", default="tiny-arith", help="a bundled benchmark or an inspect-evals task")
    p.add_argument("--limit", type=int, default=None, help="score only the first N items")
    p.add_argument("--baseline", default=None, help="also score this model (the base), on the same items")
    p.add_argument("--label", default=None, help="how tables name the model (default: its path)")
    p.add_argument("--baseline-label", default=None)
    p.add_argument("--model-is-base", action="store_true", help="the model evaluated is the base model")
    p.add_argument("--items", default=None, help="a bundled benchmark's JSONL file (default: data/<name>)")
    p.add_argument("--items-out", default=None, help="save an inspect benchmark's items here (JSONL)")
    p.add_argument("--engine", choices=("auto", "bundled", "inspect"), default="auto")
    p.add_argument("--output-dir", default=os.environ.get("INTERN_TUI_OUTPUT_DIR") or "output")
    return p.parse_args()


# -- bundled multiple-choice benchmarks ---------------------------------------------------------------


def load_items(args: argparse.Namespace) -> list[dict]:
    path = Path(args.items) if args.items else HERE / "data" / BUNDLED.get(args.benchmark, "")
    if not path.is_file():
        fail(f"benchmark file {path} not found")
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, item in enumerate(items):
        if not isinstance(item.get("choices"), list) or not isinstance(item.get("answer"), int):
            fail(f"{path} item {i + 1} needs 'question', 'choices' (a list) and 'answer' (an index)")
    return items[: args.limit] if args.limit else items


def score_multiple_choice(model_path: str, items: list[dict]) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()
    except OSError as exc:
        fail(f"cannot load model {model_path}: {exc}")
    if device == "cpu" and sum(p.numel() for p in model.parameters()) < 20_000_000:
        torch.set_num_threads(1)  # a tiny model's matmuls are slower split across (shared) cores
    right = right_norm = 0
    for item in items:
        if tok.chat_template:
            messages = [{"role": "user", "content": item["question"]}]
            context = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            continuations = list(item["choices"])
        else:
            context = f"Question: {item['question']}\nAnswer:"
            continuations = [" " + c for c in item["choices"]]
        ctx_ids = tok(context, add_special_tokens=False).input_ids
        conts = [tok(c, add_special_tokens=False).input_ids for c in continuations]
        width = len(ctx_ids) + max(len(c) for c in conts)
        rows = [ctx_ids + c + [0] * (width - len(ctx_ids) - len(c)) for c in conts]  # all choices at once
        mask = [[1] * (len(ctx_ids) + len(c)) + [0] * (width - len(ctx_ids) - len(c)) for c in conts]
        ids = torch.tensor(rows, device=device)
        with torch.inference_mode():
            logits = model(ids, attention_mask=torch.tensor(mask, device=device)).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, ids[:, 1:, None])[..., 0]
        start = len(ctx_ids) - 1  # the logit at position t predicts token t + 1
        logprobs = [logps[i, start : start + len(c)].sum().item() for i, c in enumerate(conts)]
        best = max(range(len(logprobs)), key=logprobs.__getitem__)
        best_norm = max(range(len(logprobs)), key=lambda i: logprobs[i] / max(1, len(continuations[i])))
        right += best == item["answer"]
        right_norm += best_norm == item["answer"]
    n = len(items)
    accuracy = right / n
    return {
        "metric": "accuracy",
        "score": round(accuracy, 4),
        "stderr": round(math.sqrt(accuracy * (1 - accuracy) / n), 4) if n > 1 else None,
        "n": n,
        "metrics": {"accuracy": round(accuracy, 4), "accuracy_norm": round(right_norm / n, 4)},
    }


# -- inspect-evals ------------------------------------------------------------------------------------


def run_inspect(model_path: str, task: str, args: argparse.Namespace) -> dict:
    if importlib.util.find_spec("inspect_ai") is None:
        fail("inspect benchmarks need inspect-ai and inspect-evals: pip install inspect-ai inspect-evals")
    if task.startswith("inspect_evals/") and importlib.util.find_spec("inspect_evals") is None:
        fail(f"{task} needs inspect-evals: pip install inspect-evals")
    import torch
    from inspect_ai import eval as inspect_eval

    provider = "vllm" if importlib.util.find_spec("vllm") and torch.cuda.is_available() else "hf"
    logs = inspect_eval(
        task,
        model=f"{provider}/{model_path}",
        limit=args.limit,
        log_dir=str(Path(args.output_dir) / "inspect-logs"),
        display="plain",
    )
    log = logs[0]
    if log.status != "success" or log.results is None:
        fail(f"inspect run {log.status}: {getattr(log.error, 'message', log.error)}")
    metrics: dict = {}
    for score in log.results.scores:
        for name, metric in score.metrics.items():
            metrics[name if name not in metrics else f"{score.name}/{name}"] = round(float(metric.value), 4)
    metric = "accuracy" if "accuracy" in metrics else next(iter(metrics), "score")
    if args.items_out and log.samples:
        save_items(log.samples, Path(args.items_out))
    return {
        "metric": metric,
        "score": metrics.get(metric),
        "stderr": metrics.get("stderr"),
        "n": log.results.completed_samples,
        "metrics": metrics,
        "provider": provider,
    }


def save_items(samples, path: Path) -> None:
    """The items the run scored (question and target), for intern-tui's contamination guard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for s in samples:
            question = s.input if isinstance(s.input, str) else " ".join(str(m.text) for m in s.input)
            target = s.target if isinstance(s.target, str) else " ".join(map(str, s.target or []))
            fh.write(json.dumps({"id": str(s.id), "question": question, "target": target}) + "\n")


# -- main ---------------------------------------------------------------------------------------------


def report(record: dict, output_dir: Path) -> None:
    line = json.dumps(record)
    print(f"{EVAL_MARKER} {line}", flush=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "eval_results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def main() -> None:
    args = parse_args()
    engine = args.engine
    if engine == "auto":
        engine = "bundled" if args.benchmark in BUNDLED or args.items else "inspect"
    plain_name = "/" not in args.benchmark and ".py" not in args.benchmark  # else a task id or file
    task = f"inspect_evals/{args.benchmark}" if plain_name else args.benchmark
    items = load_items(args) if engine == "bundled" else None
    runs = [(args.model, args.label or args.model, args.model_is_base)]
    if args.baseline:
        runs.insert(0, (args.baseline, args.baseline_label or args.baseline, True))
    for model_path, label, is_base in runs:
        print(f"evaluating {label} on {args.benchmark} ({engine})", flush=True)
        result = (
            score_multiple_choice(model_path, items)
            if engine == "bundled"
            else run_inspect(model_path, task, args)
        )
        record = {"benchmark": args.benchmark, "engine": engine, "model": model_path, "label": label,
                  "base": is_base, "limit": args.limit, **result}  # fmt: skip
        report(record, Path(args.output_dir))
        print(f"{label}: {result['metric']} {result['score']} on {result['n']} items", flush=True)


if __name__ == "__main__":
    main()
