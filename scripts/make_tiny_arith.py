"""Writes `intern_tui/templates/data/tiny_arith.jsonl`, the offline benchmark the demo and the tests score.

40 arithmetic questions in the style of the bundled training data, none of which appears in
`sft.jsonl`, `dpo.jsonl` or `grpo.jsonl`. Each has four answers, scored by log-likelihood: the right one,
an off-by-a-little number, and two that garble the answer's form. A model that learnt the task's format
separates the garbled ones, and only arithmetic separates the near miss. Run it again after changing it:
`python scripts/make_tiny_arith.py`.
"""

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "intern_tui" / "templates" / "data"


def seen_questions() -> set[str]:
    seen = set()
    for name in ("sft.jsonl", "dpo.jsonl", "grpo.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            row = json.loads(line)
            text = row.get("prompt") or row["messages"][0]["content"]
            seen.add(text.replace("Question: ", "").replace("\nAnswer:", "").strip())
    return seen


def item(rng: random.Random, op: str) -> tuple[str, str, int]:
    if op == "+":
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        return f"What is {a} + {b}?", f"{a} + {b} =", a + b
    if op == "-":
        a = rng.randint(10, 40)
        b = rng.randint(1, a - 1)
        return f"What is {a} - {b}?", f"{a} - {b} =", a - b
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return f"What is {a} times {b}?", f"{a} times {b} is", a * b


def main() -> None:
    rng = random.Random(14)
    seen, used, rows = seen_questions(), set(), []
    while len(rows) < 40:
        question, stem, answer = item(rng, rng.choice("+-*"))
        if question in seen or question in used:
            continue
        used.add(question)
        near = answer + rng.choice([-2, -1, 1, 2])
        choices = [f"{stem} {answer}.", f"{stem} {near}.", f"{answer} {stem}.", f"{stem}. {answer}"]
        order = list(range(4))
        rng.shuffle(order)
        rows.append(
            {
                "id": f"tiny-arith-{len(rows) + 1:02d}",
                "question": question,
                "choices": [choices[i] for i in order],
                "answer": order.index(0),
            }
        )
    out = DATA / "tiny_arith.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {out} ({len(rows)} items)")


if __name__ == "__main__":
    main()
