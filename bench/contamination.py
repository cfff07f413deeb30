"""How fast the contamination guard measures a launch: a GSM8K-sized eval set (1,319 items of ~60 words)
against training sets of growing size (rows of ~200 words), built from a fixed vocabulary so that n-grams
rarely repeat by chance, with 2% of the rows holding an eval item. Prints a table: index build time, scan
throughput, and the time an approval waits for the figure the first time (later launches of the same file
hit the cache).

    python bench/contamination.py
"""

from __future__ import annotations

import random
import time

from intern_tui.tools.contamination import EvalIndex, overlap

WORDS = [f"w{i}" for i in range(5000)] + [str(i) for i in range(200)] + ["+", "-", "=", "*"]


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def main() -> None:
    rng = random.Random(0)
    items = [text(rng, 60) for _ in range(1319)]
    t0 = time.perf_counter()
    index = EvalIndex.build("gsm8k-like", items)
    build = time.perf_counter() - t0
    print(f"index: {len(items)} items, {sum(len(v) for v in index.grams.values()):,} 13-grams, {build:.2f} s")
    print(f"{'rows':>8} {'words':>10} {'scan s':>8} {'rows/s':>9} {'words/s':>11} {'found':>6}")
    for rows_n in (1_000, 10_000, 50_000):
        rows = []
        for i in range(rows_n):
            body = text(rng, 200)
            if i % 50 == 0:  # 2% of the rows leak an item
                body += " " + items[i % len(items)]
            rows.append({"text": body})
        words = sum(len(r["text"].split()) for r in rows)
        t0 = time.perf_counter()
        result = overlap(index, rows)
        scan = time.perf_counter() - t0
        print(f"{rows_n:>8,} {words:>10,} {scan:>8.2f} {rows_n / scan:>9,.0f} {words / scan:>11,.0f} "
              f"{result['train_rows_overlapping']:>6}")  # fmt: skip


if __name__ == "__main__":
    main()
