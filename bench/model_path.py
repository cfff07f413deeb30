"""The real-model path over a long run: a 300-step session through litellm against a local
OpenAI-compatible server (tests/llm_server.py: SSE streaming, usage in the last chunk), with realistic
replies (a few sentences of thought, 6–12 lines of code printing a training-log-like observation).

Measured, in one process, one session per row:
- prompt characters sent at each step: must grow linearly (a constant amount per step), and no step's
  code may appear twice in the last prompt;
- the system prompt's size (sent with every call);
- wall time per step, supervised intern-tui vs bare smolagents (`CodeAgent` + `LiteLLMModel`, same
  server, same replies): the overhead of events, the store, streaming, the sandbox and the guards;
- the same 300 steps against a 32k-token server that enforces its window: the largest prompt, how many
  compactions, and whether the server ever refused a prompt.

    python bench/model_path.py [--steps 300]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("OPENAI_API_KEY", None)  # a local server needs none
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llm_server import LLMServer, Reply  # noqa: E402

THOUGHTS = [
    "The loss curve from the last run flattened early; I will check whether the learning rate schedule "
    "decays too fast by printing the logged values around the warmup boundary.",
    "Reward std is dropping while the mean stays flat, which usually means the completions collapsed to "
    "one answer. I will look at the per-function reward means before changing beta.",
    "The eval split must stay held out. I will count overlapping prompts between train and eval so the "
    "numbers I report are honest.",
    "Gradient norm spikes line up with the longest sequences. I will bucket the steps by batch length to "
    "see whether truncating at 1024 tokens would remove them.",
]


def reply(i: int) -> Reply:
    """A realistic CodeAgent turn; its code prints a log-like observation of 600–1,800 characters."""
    lines = 20 + (i * 7) % 40
    code = "\n".join(
        [
            f"history = [{{'step': s, 'loss': round(2.5 / (1 + 0.01 * s) + 0.003 * (s % 7), 4)}} for s in range({lines})]",
            "lrs = [3e-5 * min(1.0, (s + 1) / 10) for s in range(len(history))]",
            f"# step {i}: inspect the tail of the run",
            "for row, lr in zip(history, lrs):",
            "    print(f\"{{'loss': {row['loss']}, 'learning_rate': {lr:.2e}, 'epoch': {row['step'] / 100:.2f}}}\")",
            "best = min(history, key=lambda r: r['loss'])",
            f"print('best step', best['step'], 'of', len(history), '- run {i}')",
        ]
    )
    return Reply(f"Thought: {THOUGHTS[i % len(THOUGHTS)]}\n<code>\n{code}\n</code>", chunk_chars=6)


def final() -> Reply:
    return Reply("Thought: That is enough evidence.\n<code>\nfinal_answer('report written')\n</code>")


def supervised(steps: int, window: int | None, stream: bool = True) -> dict:
    from intern_tui.agent.models import ModelSettings
    from intern_tui.agent.session import Runtime, SessionOptions, start_session
    from intern_tui.store.queries import iter_events

    with tempfile.TemporaryDirectory() as tmp, LLMServer(max_model_len=window) as server:
        server.push(*[reply(i) for i in range(1, steps)], final())
        rt = Runtime.open(Path(tmp) / "home")
        settings = ModelSettings(context_window=None if window else 1_048_576, stream=stream)
        options = SessionOptions(
            task="Find out why the SFT loss plateaus and fix it",
            model=f"openai/{server.model}",
            api_base=server.base_url,
            max_steps=steps + 5,
            approve="none",
            settings=settings,
        )
        sup = start_session(rt, options, start=False)
        system_chars = len(sup.agent.system_prompt)
        tools = len(sup.agent.tools) - 1  # final_answer is smolagents' own
        t0 = time.perf_counter()
        sup.start()
        sup.wait()
        elapsed = time.perf_counter() - t0
        rt.writer.flush()
        conn = rt.store.connect()
        compactions = list(iter_events(conn, sup.emitter.session_id, kinds=["compacted"]))
        conn.close()
        chat = server.chat_requests()
        result = {
            "status": sup.status,
            "elapsed": elapsed,
            "prompts": [r.prompt_chars for r in chat],
            "tokens": [server.prompt_tokens(r) for r in chat],
            "refused": sum(1 for r in chat if r.status != 200),
            "system_chars": system_chars,
            "tools": tools,
            "compactions": len(compactions),
            "last_prompt": chat[-1].prompt_text,
        }
        rt.close()
        return result


def bare(steps: int, stream: bool = False) -> dict:
    from rich.console import Console
    from smolagents import CodeAgent, LiteLLMModel
    from smolagents.monitoring import AgentLogger, LogLevel

    with LLMServer() as server:
        server.push(*[reply(i) for i in range(1, steps)], final())
        model = LiteLLMModel(model_id=f"openai/{server.model}", api_base=server.base_url, api_key="none")
        agent = CodeAgent(
            tools=[],
            model=model,
            max_steps=steps + 5,
            stream_outputs=stream,
            logger=AgentLogger(level=LogLevel.OFF, console=Console(file=io.StringIO())),
        )
        t0 = time.perf_counter()
        agent.run("Find out why the SFT loss plateaus and fix it")
        elapsed = time.perf_counter() - t0
        chat = server.chat_requests()
        return {
            "elapsed": elapsed,
            "prompts": [r.prompt_chars for r in chat],
            "system_chars": len(agent.system_prompt),
            "last_prompt": chat[-1].prompt_text,
        }


def growth(prompts: list[int]) -> tuple[float, float, float]:
    """Median added characters per step over the first and the second half, and their ratio."""
    deltas = [b - a for a, b in zip(prompts, prompts[1:], strict=False)]
    half = len(deltas) // 2
    first, second = statistics.median(deltas[:half]), statistics.median(deltas[half:])
    return first, second, second / first if first else float("nan")


def repeated_code(last_prompt: str, steps: int) -> int:
    """Steps whose code marker appears more than once in the last prompt."""
    return sum(1 for i in range(1, steps) if last_prompt.count(f"# step {i}: inspect") > 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    n = ap.parse_args().steps
    supervised(10, None), bare(10)  # warm imports (litellm, smolagents, torch on the first run)

    runs = {
        "intern-tui, streamed": supervised(n, None, stream=True),
        "bare smolagents, stream_outputs": bare(n, stream=True),
        "intern-tui, not streamed": supervised(n, None, stream=False),
        "bare smolagents, generate": bare(n, stream=False),
    }
    tight = supervised(n, 32768)

    print(f"{n} steps through litellm (openai/ provider) against tests/llm_server.py on 127.0.0.1")
    ours, theirs = runs["intern-tui, streamed"], runs["bare smolagents, generate"]
    print(
        f"system prompt: intern-tui {ours['system_chars']:,} characters ({ours['tools']} tools + "
        f"instructions), bare smolagents {theirs['system_chars']:,} (no tools)\n"
    )
    head = f"{'run':<34} {'ms/step':>8} {'+chars/step':>12} {'2nd/1st half':>13} {'last prompt':>12} {'code x2':>8}"
    print(head)
    print("-" * len(head))
    for label, run in runs.items():
        first, second, ratio = growth(run["prompts"])
        print(
            f"{label:<34} {run['elapsed'] / n * 1000:>8.1f} {second:>12,.0f} {ratio:>13.2f} "
            f"{run['prompts'][-1]:>12,} {repeated_code(run['last_prompt'], n):>8}"
        )
    for ours, theirs in (
        ("intern-tui, streamed", "bare smolagents, stream_outputs"),
        ("intern-tui, not streamed", "bare smolagents, generate"),
    ):
        a, b = runs[ours]["elapsed"], runs[theirs]["elapsed"]
        print(f"\n{ours} vs {theirs}: {(a - b) / n * 1000:+.1f} ms per step ({a / b:.2f}×)")
    print(
        f"\n32k-token server, same {n} steps, streamed: status {tight['status']}, largest prompt "
        f"{max(tight['tokens']):,} tokens (server count), {tight['compactions']} compactions, "
        f"{tight['refused']} prompts refused"
    )


if __name__ == "__main__":
    main()
