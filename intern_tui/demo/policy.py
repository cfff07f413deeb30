"""Source of `demo.jsonl`, the scripted policy `intern-tui demo` replays through the real agent loop.

Each turn is what an LLM would have written: a thought and the code the agent runs. Regenerate with
`python -m intern_tui.demo.policy` after editing (the JSONL is what ships and what the tests use).
"""

import json
from pathlib import Path

WAIT = (
    "import time\n"
    "while job_status(job)['status'] in ('running', 'starting'):\n"
    "    time.sleep(1)\n"
    "status = job_status(job)\n"
    "print(status['status'], 'exit', status['exit_code'])\n"
)

STAGES = [
    "Inspect the bundled chat dataset",
    "Build the training mix",
    "Train SFT on CPU (smoke run)",
    "Evaluate on tiny-arith against the base model",
    "Short GRPO stage with a length reward",
    "Push the model (needs approval)",
]

SFT_ARGS = "'model': 'tiny', 'max-steps': 40, 'logging-steps': 5"


def plan_call(done: int) -> str:
    """plan() with the first `done` stages checked and the next one in progress."""
    items = [
        f"[x] {s}" if i < done else f"[>] {s}" if i == done else f"[ ] {s}" for i, s in enumerate(STAGES)
    ]
    return f"print(plan({items!r}))"


TURNS = [
    (
        "[scripted demo policy] Goal: make the base model `tiny` better at arithmetic, measured on the bundled "
        "tiny-arith benchmark against the untrained base. SFT, evaluate, then a short GRPO stage. I'll keep a plan.",
        plan_call(0),
    ),
    (
        "Data before training: check the columns fit SFT, and look for duplicates and empty rows.",
        "info = inspect_dataset('local:templates/data/sft.jsonl', n=2)\n"
        "print('rows:', info['rows'], '| fits:', info['fits'])\n"
        "print('quality:', info['quality'])",
    ),
    (
        "240 rows in `messages` format, fit for SFT. For more arithmetic practice I'll add questions to the first 200 "
        "rows — this demo deliberately takes 12 of them from the benchmark file, to show the contamination guard. "
        "Then adapt the SFT template.",
        "import json\n"
        "rows = [json.loads(x) for x in read_file('templates/data/sft.jsonl').splitlines()][:200]\n"
        "for x in read_file('templates/data/tiny_arith.jsonl').splitlines()[:12]:\n"
        "    item = json.loads(x)\n"
        "    answer = item['choices'][item['answer']]\n"
        "    rows.append({'messages': [{'role': 'user', 'content': item['question']},\n"
        "                              {'role': 'assistant', 'content': answer}]})\n"
        "print(write_file('data/train_mix.jsonl', ''.join(json.dumps(r) + '\\n' for r in rows)))\n"
        "src = read_file('templates/train_sft.py')\n"
        'src = src.replace(\'"""Supervised fine-tuning\', \'"""[demo] Supervised fine-tuning\', 1)\n'
        "print(write_file('train_sft.py', src))\n" + plan_call(2),
    ),
    (
        "A smoke-test run first: tiny model built from a config, 40 steps on CPU. The launch needs approval; its "
        "request shows how much of the benchmark is in the training data.",
        "try:\n"
        f"    job = launch_job('train_sft.py', args={{{SFT_ARGS}, 'dataset': 'data/train_mix.jsonl'}}, timeout=900)\n"
        "    print('launched', job)\n"
        "except Exception as exc:\n"
        "    print('not launched:', exc)",
    ),
    (
        "The guard found benchmark items in the training mix: a score on tiny-arith would be worthless. Drop the "
        "overlapping rows and launch again on the clean copy.",
        "report = check_contamination('data/train_mix.jsonl', write_clean='data/train_clean.jsonl')\n"
        "print(report['flagged'])\nprint(report['clean'])\n"
        f"job = launch_job('train_sft.py', args={{{SFT_ARGS}, 'dataset': 'data/train_clean.jsonl'}}, timeout=900)\n"
        "sft_job = job\nprint('launched', job)",
    ),
    (
        "Watch the run until it ends, then read its metrics.",
        WAIT + "m = job_metrics(job)\nprint(m)\n" + plan_call(3),
    ),
    (
        "Loss went down. Now the benchmark: the trained model and the untrained base (saved as tiny-init) on the "
        "same 40 tiny-arith items, as a job (approval again).",
        "out = job_status(sft_job)['output_dir']\n"
        "job = evaluate(out, 'tiny-arith', baseline=out + '/tiny-init', timeout=900)\n"
        "eval_job = job\nprint('launched', job)",
    ),
    (
        "Wait for the evaluation and read the table.",
        WAIT + "row = eval_results('tiny-arith')['table'][0]\nprint(row)\n" + plan_call(4),
    ),
    (
        "Next, a short GRPO stage from the SFT model with a length reward (continuous, so the reward has variance). "
        "Adapt the GRPO template; the diff shows in the Files pane.",
        "src = read_file('templates/train_grpo.py')\n"
        "print(write_file('train_grpo.py', src.replace('Reinforcement learning', '[demo] Reinforcement learning', 1)))\n"
        "print(edit_file('train_grpo.py', '[demo] Reinforcement', '[demo: length reward] Reinforcement'))",
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
        "sft, grpo = job_metrics(sft_job), job_metrics(grpo_job)\n"
        "row = eval_results('tiny-arith')['table'][0]\n"
        "trained = row['models'][0]\n" + plan_call(6) + "\n"
        "final_answer(\n"
        '    f"SFT (tiny Llama built from a config, 40 steps on CPU, on a training mix cleaned of the 12 benchmark "\n'
        "    f\"items the contamination guard found): loss {sft['trend']['loss']['first']:.2f} -> \"\n"
        "    f\"{sft['latest']['loss']:.2f}. tiny-arith accuracy: {trained['score']:.3f} vs {row['base']['score']:.3f} \"\n"
        "    f\"for the untrained base ({trained['vs_base']:+.3f}, {trained['n']} items). GRPO (30 steps, length reward): \"\n"
        "    f\"reward {grpo['trend']['reward']['first']:.2f} -> {grpo['latest']['reward']:.2f} \"\n"
        "    f\"(best {grpo['trend']['reward']['max']:.2f}). Push to the Hub: denied (the demo never uploads). \"\n"
        '    "Scripted demo policy: a real LLM chooses its own steps.")',
    ),
]

if __name__ == "__main__":
    out = Path(__file__).with_name("demo.jsonl")
    out.write_text(
        "".join(json.dumps({"thought": t, "code": c}, ensure_ascii=False) + "\n" for t, c in TURNS)
    )
    print(f"wrote {out} ({len(TURNS)} turns)")
