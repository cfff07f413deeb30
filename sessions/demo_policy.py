"""Source of `demo.jsonl`, the scripted policy `intern-tui demo` replays through the real agent loop.

Each turn is what an LLM would have written: a thought and the code the agent runs. Regenerate with
`python sessions/demo_policy.py` after editing (the JSONL is what ships and what the tests use).
"""

import json
from pathlib import Path

EVAL_SCRIPT = '''\
"""Held-out evaluation of a chat model: mean token loss and perplexity on rows the model never saw."""
import argparse
import json
import math
import os

parser = argparse.ArgumentParser()
parser.add_argument("--model-dir", required=True)
parser.add_argument("--baseline-dir", help="the untrained model, for comparison")
parser.add_argument("--dataset", required=True)
parser.add_argument("--skip", type=int, default=200, help="rows used for training come first")
parser.add_argument("--limit", type=int, default=40)
args = parser.parse_args()

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

with open(args.dataset) as fh:
    rows = [json.loads(line) for line in fh][args.skip : args.skip + args.limit]


def mean_loss(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    losses = []
    for row in rows:
        ids = tok(tok.apply_chat_template(row["messages"], tokenize=False), return_tensors="pt").input_ids
        with torch.no_grad():
            losses.append(model(ids, labels=ids).loss.item())
    return sum(losses) / len(losses)


result = {"eval_loss": mean_loss(args.model_dir), "eval_rows": len(rows)}
result["eval_perplexity"] = math.exp(result["eval_loss"])
if args.baseline_dir:
    result["baseline_eval_loss"] = mean_loss(args.baseline_dir)
metrics_file = os.environ.get("INTERN_TUI_METRICS_FILE")  # intern-tui turns these lines into metric events
if metrics_file:
    with open(metrics_file, "a") as fh:
        fh.write(json.dumps({"step": 1, **result}) + "\\n")
print(json.dumps(result))
'''

WAIT = (
    "import time\n"
    "while job_status(job)['status'] in ('running', 'starting'):\n"
    "    time.sleep(1)\n"
    "status = job_status(job)\n"
    "print(status['status'], 'exit', status['exit_code'])\n"
)

STAGES = [
    "Inspect the bundled chat dataset",
    "Adapt the TRL SFT template",
    "Train SFT on CPU (smoke run)",
    "Evaluate on held-out rows",
    "Short GRPO stage with a length reward",
    "Push the model (needs approval)",
]


def plan_call(done: int) -> str:
    """plan() with the first `done` stages checked and the next one in progress."""
    items = [
        f"[x] {s}" if i < done else f"[>] {s}" if i == done else f"[ ] {s}" for i, s in enumerate(STAGES)
    ]
    return f"print(plan({items!r}))"


TURNS = [
    (
        "[scripted demo policy] Goal: make a tiny chat model better at short answers with SFT, then a short GRPO "
        "stage. I'll keep a plan so you can follow along.",
        plan_call(0),
    ),
    (
        "Data before training: check the columns fit SFT, and look for duplicates and empty rows.",
        "info = inspect_dataset('local:templates/data/sft.jsonl', n=2)\n"
        "print('rows:', info['rows'], '| fits:', info['fits'])\n"
        "print('quality:', info['quality'])",
    ),
    (
        "240 rows in `messages` format, fit for SFT. I'll train on the first 200 and keep the last 40 for "
        "evaluation (never train on eval data). Start from the SFT template.",
        "src = read_file('templates/train_sft.py')\n"
        'src = src.replace(\'"""Supervised fine-tuning\', \'"""[demo] Supervised fine-tuning\', 1)\n'
        "print(write_file('train_sft.py', src))\n" + plan_call(2),
    ),
    (
        "A smoke-test run first: tiny model built from a config, 40 steps on CPU. This launch needs your approval.",
        "job = launch_job('train_sft.py', args={'model': 'tiny', 'dataset': 'templates/data/sft.jsonl',\n"
        "                 'max-samples': 200, 'max-steps': 40, 'logging-steps': 5}, timeout=900)\n"
        "print('launched', job)\n"
        "sft_job = job",
    ),
    (
        "Watch the run until it ends, then read its metrics.",
        WAIT + "m = job_metrics(job)\nprint(m)\n" + plan_call(3),
    ),
    (
        "Loss went down. Now an honest evaluation on the 40 held-out rows, against the untrained model. I'll write a "
        "small eval script and run it as a job.",
        f"print(write_file('eval_sft.py', {EVAL_SCRIPT!r}))",
    ),
    (
        "On second thought the eval should also report the baseline's perplexity for a fair comparison; edit the "
        "script before running it (the diff shows in the Files pane).",
        "print(edit_file('eval_sft.py', '    result[\"baseline_eval_loss\"] = mean_loss(args.baseline_dir)',\n"
        "                '    result[\"baseline_eval_loss\"] = mean_loss(args.baseline_dir)\\n'\n"
        '                \'    result["baseline_perplexity"] = math.exp(result["baseline_eval_loss"])\'))',
    ),
    (
        "Launch the evaluation (approval again).",
        "out = job_status(sft_job)['output_dir']\n"
        "job = launch_job('eval_sft.py', args={'model-dir': out, 'baseline-dir': out + '/tiny-init',\n"
        "                 'dataset': 'templates/data/sft.jsonl', 'skip': 200, 'limit': 40}, timeout=900)\n"
        "eval_job = job\nprint('launched', job)",
    ),
    (
        "Wait for the evaluation.",
        WAIT + "print(job_logs(job, tail=3))\nprint(job_metrics(job))\n" + plan_call(4),
    ),
    (
        "Next, a short GRPO stage from the SFT model with a length reward (continuous, so the reward has variance). "
        "Adapt the GRPO template.",
        "src = read_file('templates/train_grpo.py')\n"
        "print(write_file('train_grpo.py', src.replace('\"\"\"GRPO', '\"\"\"[demo] GRPO', 1)))",
    ),
    (
        "Launch GRPO: 30 steps, 4 generations per prompt. Watch the reward in the Metrics pane.",
        "job = launch_job('train_grpo.py', args={'model': job_status(sft_job)['output_dir'],\n"
        "                 'dataset': 'templates/data/grpo.jsonl', 'reward': 'length', 'max-steps': 30,\n"
        "                 'learning-rate': 0.0005, 'logging-steps': 2}, timeout=900)\n"
        "grpo_job = job\nprint('launched', job)",
    ),
    (
        "Wait for GRPO to finish and read its reward curve.",
        WAIT + "m = job_metrics(job)\nprint(m)\n" + plan_call(5),
    ),
    (
        "Publishing the model needs approval; in this demo uploads are denied by default, which is fine.",
        "print(push_to_hub(job_status(sft_job)['output_dir'], 'me/tiny-chat-sft-demo', private=True))",
    ),
    (
        "The push was denied, as expected in the demo. Summarize with the evidence.",
        "sft, ev, grpo = job_metrics(sft_job), job_metrics(eval_job)['latest'], job_metrics(grpo_job)\n"
        + plan_call(6)
        + "\n"
        "final_answer(\n"
        "    f\"SFT (tiny Llama built from a config, 40 steps on CPU): loss {sft['trend']['loss']['first']:.2f} -> \"\n"
        "    f\"{sft['latest']['loss']:.2f}. Held-out eval (40 rows never trained on): loss {ev['eval_loss']:.2f} vs \"\n"
        "    f\"{ev['baseline_eval_loss']:.2f} for the untrained model (perplexity {ev['eval_perplexity']:.1f} vs \"\n"
        "    f\"{ev['baseline_perplexity']:.1f}). GRPO (30 steps, length reward): reward \"\n"
        "    f\"{grpo['trend']['reward']['first']:.2f} -> {grpo['latest']['reward']:.2f} (best {grpo['trend']['reward']['max']:.2f}). \"\n"
        '    "Push to the Hub: denied (the demo never uploads). Scripted demo policy: a real LLM chooses its own steps.")',
    ),
]

if __name__ == "__main__":
    out = Path(__file__).with_name("demo.jsonl")
    out.write_text(
        "".join(json.dumps({"thought": t, "code": c}, ensure_ascii=False) + "\n" for t, c in TURNS)
    )
    print(f"wrote {out} ({len(TURNS)} turns)")
