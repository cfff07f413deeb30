"""Realistic generated sessions, for replay tests and the benchmarks.

A long post-training session is mostly a trainer talking: log chunks, metric steps, GPU samples. Between
them the agent takes a step now and then, and those carry the big payloads: model output of 1–2 KB,
an observation of about 4 KB, code, tool calls, token usage. Jobs start and finish, files get new
versions, an approval is asked and decided, an alert fires. Everything goes through the real `Emitter`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

# Chances per draw (the rest, 0.6%, is an agent step of about 7 events: ~4% of all events).
LOG_SHARE, METRIC_SHARE, GPU_SHARE = 0.70, 0.13, 0.164  # ~6 agent steps per 1,000 events
EVENTS_PER_JOB = 40_000

_WORDS = (
    "reward std is shrinking so the policy may be collapsing onto one answer format; before touching beta "
    "check whether the KL term or the learning rate explains it, compare the eval curve of the previous "
    "run, and look at a few completions from the last logging step to see what the model is doing"
).split()
_LOG = (
    "{{'loss': {loss:.4f}, 'grad_norm': {grad:.3f}, 'learning_rate': 1.9e-06, 'reward': {reward:.4f}, "
    "'reward_std': 0.18, 'kl': {kl:.5f}, 'epoch': {epoch:.2f}}}"
)


def _prose(rng: random.Random, size: int) -> str:
    words, n = [], 0
    while n < size:
        word = rng.choice(_WORDS)
        words.append(word)
        n += len(word) + 1
    text = " ".join(words)
    # Markdown paragraphs, the way a model writes its reasoning
    return "\n\n".join(text[i : i + 400] for i in range(0, len(text), 400))


def _observation(rng: random.Random, step: int) -> str:
    lines = [f"step {step}: job status running, {rng.randint(100, 999)}/1000 steps"]
    while sum(len(x) + 1 for x in lines) < 4000:
        lines.append(
            f"  {rng.randint(0, 999):>4}  reward={rng.random():.4f}  kl={rng.random() / 50:.5f}  "
            f"completion: {' '.join(rng.choice(_WORDS) for _ in range(8))}"
        )
    return "Execution logs:\n" + "\n".join(lines)


def _gpu(rng: random.Random, ts: float) -> dict[str, Any]:
    gpus = [
        {
            "index": i,
            "uuid": f"GPU-{i:08d}",
            "name": "NVIDIA H100 80GB HBM3",
            "util_gpu": rng.randint(80, 100),
            "util_mem": rng.randint(30, 60),
            "mem_used": 61_000_000_000 + rng.randint(0, 10**9),
            "mem_total": 85_520_000_000,
            "temp_c": rng.randint(55, 75),
            "power_w": 500 + rng.random() * 150,
            "power_limit_w": 700.0,
            "sm_clock_mhz": 1980,
            "processes": [{"pid": 4242 + i, "name": "python", "mem_used": 60_000_000_000, "job_id": "job-1"}],
        }
        for i in range(2)
    ]
    return {"state": "ok", "ts": ts, "gpus": gpus}


def session_events(
    n: int, seed: int = 0, end_status: str = "done"
) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    """(kind, step, payload) of a session of about `n` events (exactly n when n > 50)."""
    rng = random.Random(seed)
    yield (
        "session_started",
        None,
        {"task": "GRPO Qwen3-0.6B on GSM8K", "model": "anthropic/claude-sonnet-4-5"},
    )
    yield "task", None, {"task": "GRPO Qwen3-0.6B on GSM8K; stay under 2 GPU-hours"}
    emitted, step, job, metric_step, version, ts = 2, 0, 0, 0, 0, 0.0
    job_id = None
    while emitted < n - 1:
        if job_id is None or emitted // EVENTS_PER_JOB >= job:
            if job_id is not None:
                yield "job_finished", step, {"job_id": job_id, "status": "completed", "exit_code": 0}
                emitted += 1
            job += 1
            job_id = f"job-{job}"
            yield "job_started", step, {"job_id": job_id, "backend": "local", "script": "train_grpo.py"}
            emitted += 1
            continue
        r = rng.random()
        if r < LOG_SHARE:
            lines = [
                _LOG.format(
                    loss=rng.random(),
                    grad=rng.random(),
                    reward=rng.random(),
                    kl=rng.random() / 50,
                    epoch=ts / 1e4,
                )
                for _ in range(rng.randint(1, 6))
            ]
            yield "job_log", step, {"job_id": job_id, "stream": "stdout", "lines": lines}
            emitted += 1
        elif r < LOG_SHARE + METRIC_SHARE:
            metric_step += 1
            values = {
                "loss": rng.random(),
                "reward": rng.random(),
                "reward_std": rng.random() / 4,
                "kl": rng.random() / 50,
                "learning_rate": 1.9e-6,
                "grad_norm": rng.random() * 2,
                "rewards/correctness/mean": rng.random(),
                "rewards/format/mean": rng.random(),
                "completions/mean_length": rng.randint(100, 400),
            }
            yield (
                "job_metric",
                step,
                {"job_id": job_id, "step": metric_step, "values": values, "source": "jsonl"},
            )
            emitted += 1
        elif r < LOG_SHARE + METRIC_SHARE + GPU_SHARE:
            ts += 1.0
            yield "gpu_sample", None, _gpu(rng, ts)
            emitted += 1
        else:
            step += 1
            thought = _prose(rng, rng.randint(1000, 2000))
            code = f"m = job_metrics('{job_id}')\nprint(m['latest'])\nprint(job_logs('{job_id}', tail=40))\n"
            events: list[tuple[str, dict[str, Any]]] = [
                ("step_started", {"step": step, "max_steps": 10_000}),
                ("model_output", {"thought": thought, "text": thought}),
                ("code_action", {"code": code}),
                ("tool_call", {"tool": "job_metrics", "arguments": {"job_id": job_id}}),
                ("tool_result", {"tool": "job_metrics", "result": {"latest": {"reward": rng.random()}}}),
                ("observation", {"text": _observation(rng, step)}),
                (
                    "token_usage",
                    {"input_tokens": rng.randint(8000, 30000), "output_tokens": 400, "cost_usd": 0.02},
                ),
            ]
            if step % 25 == 0:
                version += 1
                content = "".join(f"learning_rate = {i}e-6\n" for i in range(version * 5))
                events.append(
                    (
                        "file_written",
                        {
                            "path": "train_grpo.py",
                            "version": version,
                            "content": content,
                            "diff": "",
                            "added": 5,
                            "removed": 0,
                            "bytes": len(content),
                        },
                    )
                )
            for kind, payload in events:
                if emitted >= n - 1:
                    break
                yield kind, step, payload
                emitted += 1
    yield "session_ended", step, {"status": end_status}


def build_session(
    runtime, n: int, session_id: str = "generated", seed: int = 0, end_status: str = "done"
) -> str:
    """Emit a generated session through the real emitter and store writer; returns its id."""
    from intern_tui.bus import Emitter

    em = Emitter(runtime.bus, session_id)
    for kind, step, payload in session_events(n, seed, end_status):
        em.emit(kind, payload, step=step)
    runtime.writer.flush(timeout=None)
    return session_id
