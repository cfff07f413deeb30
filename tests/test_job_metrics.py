"""Metric parsers and the tracker, against every real-world fixture and against broken input."""

from __future__ import annotations

import json
import math

import pytest

from intern_tui.jobs.metrics import (
    STDOUT_MARKER,
    MetricsTracker,
    clean_line,
    find_metric_dicts,
    parse_dict_line,
    parse_jsonl_record,
    parse_llamafactory_log,
    parse_trainer_state,
)

TRAINER_STATES = {
    # file: (entries with a step, first loss-like check)
    "grpo_chaos_economy_trainer_state.json": 40,
    "grpo_zero_std_collapse_trainer_state.json": 100,
    "grpo_no_kl_json_format_reward_trainer_state.json": 50,
    "grpo_single_entry_old_new_keys_trainer_state.json": 1,
    "orpo_llamafactory_chatglm_trainer_state.json": 34,
    "sft_trl_unsloth_nlcli_trainer_state.json": 30,
}
# console log -> number of metric dicts it prints (counted by hand from the files; SOURCES.md agrees)
CONSOLE_LOGS = {
    "console_grpo_collapse_run_terminal.md": 49,
    "console_grpo_qwen25vl_short_run_terminal.md": 5,
    "console_grpo_torchrun_string_values.log": 81,  # 80 training dicts + the train_runtime summary
    "console_trl_sft_qwen3_nohup_training_truncated.log": 58,
}


def _feed_console(tracker: MetricsTracker, path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
        out += tracker.feed_log_line(line)
    return out + tracker.flush(final=True)


# -- single lines ---------------------------------------------------------------------------------


def test_dict_line_plain_string_valued_and_nonfinite():
    assert parse_dict_line("{'loss': 1.25, 'grad_norm': 0.5, 'epoch': 0.1}") == {
        "loss": 1.25,
        "grad_norm": 0.5,
        "epoch": 0.1,
    }
    # transformers 5 prints formatted strings; numeric strings become floats, other strings are dropped
    values = parse_dict_line("{'loss': '0.2013', 'num_tokens': '4.02e+04', 'note': 'hello', 'flag': True}")
    assert values == {"loss": 0.2013, "num_tokens": 40200.0}
    values = parse_dict_line("{'loss': nan, 'grad_norm': inf, 'kl': -inf, 'reward': 'nan'}")
    assert math.isnan(values["loss"]) and math.isnan(values["reward"])
    assert values["grad_norm"] == math.inf and values["kl"] == -math.inf
    assert parse_dict_line("{'loss': np.float64(0.5), 'epoch': 1.0}") == {"loss": 0.5, "epoch": 1.0}


def test_dict_line_inside_tqdm_noise_and_escapes():
    line = "\r 17%|█▋ | 5/30 [00:01<00:04]\x1b[A\r                \r{'loss': 3.5, 'learning_rate': 1e-05}"
    assert parse_dict_line(line) == {"loss": 3.5, "learning_rate": 1e-05}
    assert parse_dict_line("  3%|▎  | 1/30 [00:00<00:09] {'eval_loss': 0.9, 'epoch': 1}") == {
        "eval_loss": 0.9,
        "epoch": 1.0,
    }
    assert clean_line(line) == "{'loss': 3.5, 'learning_rate': 1e-05}"
    assert clean_line("a\rb\r\x1b[A\r") == "b"


def test_non_metric_dicts_are_ignored():
    assert parse_dict_line("Updated tokens: {'bos_token_id': None, 'pad_token_id': 151643}.") is None
    assert parse_dict_line("generation-related arguments=({'disable_compile'}) is deprecated") is None
    assert parse_dict_line("no dict here") is None
    assert parse_dict_line("{'loss': 'n/a'}") is None  # a metric key but no numeric value


def test_truncated_and_broken_dicts_are_counted_not_raised():
    found, malformed = find_metric_dicts("{'loss': 1.0, 'grad_norm': 0.3, 'learning_ra")
    assert found == [] and malformed == 1
    found, malformed = find_metric_dicts("{'loss': 1.0,, 'x'}")
    assert found == [] and malformed == 1
    found, malformed = find_metric_dicts("{not python} and {'loss': 2.0}")
    assert found == [{"loss": 2.0}] and malformed == 0
    for junk in ["{", "}", "{'", "'{'loss'", "{{{{", "\x00\x01", "{'loss': (1,", "{" * 5000]:
        parse_dict_line(junk)  # never raises


def test_jsonl_records_ours_llamafactory_and_marker():
    assert parse_jsonl_record('{"step": 10, "loss": 0.5, "epoch": 0.1}') == (10, {"loss": 0.5, "epoch": 0.1})
    step, values = parse_jsonl_record('{"step": 3, "loss": NaN, "kl": Infinity}')
    assert step == 3 and math.isnan(values["loss"]) and values["kl"] == math.inf
    step, values = parse_jsonl_record(
        '{"current_steps": 20, "total_steps": 336, "loss": 0.97, "percentage": 5.95, "elapsed_time": "0:00:50"}'
    )
    assert (step, values) == (20, {"loss": 0.97})
    assert parse_jsonl_record(STDOUT_MARKER + ' {"step": 4, "reward": 1.5}') == (4, {"reward": 1.5})
    assert parse_jsonl_record('{"step": 4, "loss": 0.') is None
    assert parse_jsonl_record("[1, 2]") is None


# -- every fixture ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, entries", sorted(TRAINER_STATES.items()))
def test_trainer_state_fixtures(fixtures_dir, name, entries):
    path = fixtures_dir / name
    parsed = parse_trainer_state(path)
    assert len(parsed) == entries
    raw = json.loads(path.read_text())["log_history"]
    assert [s for s, _ in parsed] == [e["step"] for e in raw]
    assert all("step" not in v for _, v in parsed)
    tracker = MetricsTracker("j")
    payloads = tracker.feed_trainer_state(parsed)
    # eval entries and the final summary share a step with a training entry: all are kept, none twice
    assert len(payloads) == entries
    assert {p["source"] for p in payloads} == {"trainer_state"}
    assert tracker.feed_trainer_state(parsed) == []  # the same file again: all duplicates
    assert tracker.stats["duplicates"] == entries


def test_trainer_state_specifics(fixtures_dir):
    no_kl = parse_trainer_state(fixtures_dir / "grpo_no_kl_json_format_reward_trainer_state.json")
    assert all("kl" not in v for _, v in no_kl)
    assert no_kl[-1][1]["rewards/valid_json_reward/mean"] == 2.0
    sft = parse_trainer_state(fixtures_dir / "sft_trl_unsloth_nlcli_trainer_state.json")
    assert sft[0] == (10, {"epoch": pytest.approx(0.1183, rel=1e-3), "grad_norm": pytest.approx(11.77, rel=1e-3),
                           "learning_rate": 3.6e-05, "loss": 6.7004})  # fmt: skip
    assert [s for s, v in sft if "eval_loss" in v] == [50, 100, 150, 200, 250]
    orpo = parse_trainer_state(fixtures_dir / "orpo_llamafactory_chatglm_trainer_state.json")
    assert orpo[-1][1]["train_runtime"] == 789.838
    with pytest.raises(ValueError):
        parse_trainer_state('{"global_step": 3}')


@pytest.mark.parametrize("name, count", sorted(CONSOLE_LOGS.items()))
def test_console_fixtures(fixtures_dir, name, count):
    tracker = MetricsTracker("j", hold_seconds=0)
    payloads = _feed_console(tracker, fixtures_dir / name)
    assert len(payloads) == count
    assert [p["step"] for p in payloads] == list(range(1, count + 1))  # order-assigned logging index
    assert all(p["source"] == "stdout" and p["values"] for p in payloads)
    assert tracker.stats["malformed"] == 0
    # everything is a float, including the string-valued metrics of transformers 5
    assert all(isinstance(v, float) for p in payloads for v in p["values"].values())


def test_console_fixture_values(fixtures_dir):
    strings = _feed_console(
        MetricsTracker("j", hold_seconds=0), fixtures_dir / "console_grpo_torchrun_string_values.log"
    )
    assert strings[0]["values"]["loss"] == 0.2013 and strings[0]["values"]["num_tokens"] == 40200.0
    assert strings[-1]["values"]["train_runtime"] == 1366.0
    sft = _feed_console(
        MetricsTracker("j", hold_seconds=0),
        fixtures_dir / "console_trl_sft_qwen3_nohup_training_truncated.log",
    )
    assert sft[0]["values"]["loss"] == 2.1095
    assert any("eval_loss" in p["values"] for p in sft)
    assert "train_runtime" in sft[-1]["values"]  # flushed after "Training completed" (out of order)
    collapse = _feed_console(
        MetricsTracker("j", hold_seconds=0), fixtures_dir / "console_grpo_collapse_run_terminal.md"
    )
    assert collapse[0]["values"]["completions/mean_length"] == 53.35
    assert sum(1 for p in collapse if p["values"]["frac_reward_zero_std"] == 1.0) >= 20


def test_llamafactory_fixture(fixtures_dir):
    text = (fixtures_dir / "llamafactory_orpo_trainer_log.jsonl").read_text()
    records = parse_llamafactory_log(text)
    assert len(records) == 34
    assert records[0] == (10, {"loss": 1.0495, "accuracy": 0.4625000059604645,
                               "learning_rate": 1.4705882352941177e-06, "epoch": 0.08888888888888889})  # fmt: skip
    assert records[-1][0] == 336
    tracker = MetricsTracker("j")
    payloads = [p for line in text.splitlines() for p in tracker.feed_jsonl_line(line)]
    assert [p["step"] for p in payloads] == [s for s, _ in records]


# -- the tracker's merging ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stdout_is_held_then_superseded_by_jsonl():
    clock = Clock()
    tracker = MetricsTracker("j", hold_seconds=2.0, clock=clock)
    assert tracker.feed_log_line("{'loss': 1.5, 'epoch': 0.1}") == []  # held
    assert tracker.pending == 1
    clock.now = 0.5
    out = tracker.feed_jsonl_line('{"step": 10, "loss": 1.4991, "epoch": 0.1}')
    assert out == [{"job_id": "j", "step": 10, "values": {"loss": 1.4991, "epoch": 0.1}, "source": "jsonl"}]
    clock.now = 10
    assert tracker.flush() == [] and tracker.pending == 0
    assert tracker.feed_log_line("{'loss': 1.2, 'epoch': 0.2}") == []  # stdout no longer counts
    assert tracker.flush(final=True) == []
    assert tracker.stats["superseded"] == 2


def test_stdout_only_gets_order_steps_after_the_hold():
    clock = Clock()
    tracker = MetricsTracker("j", hold_seconds=2.0, clock=clock)
    tracker.feed_log_line("{'loss': 2.0}")
    clock.now = 1.0
    tracker.feed_log_line("{'loss': 1.8}")
    clock.now = 2.5
    assert [p["values"]["loss"] for p in tracker.flush()] == [2.0]
    clock.now = 3.5
    out = tracker.flush()
    assert [(p["step"], p["source"]) for p in out] == [(2, "stdout")]


def test_trainer_state_after_stdout_emits_only_what_stdout_missed():
    tracker = MetricsTracker("j", hold_seconds=0)
    for line in ["{'loss': '2.012', 'epoch': '0.1'}", "{'loss': '1.5', 'epoch': '0.2'}"]:
        tracker.feed_log_line(line)
    tracker.flush()
    state = [
        (10, {"loss": 2.01234, "epoch": 0.1}),
        (20, {"loss": 1.49996, "epoch": 0.2}),
        (30, {"loss": 1.2, "epoch": 0.3}),  # the process died before printing these
        (30, {"train_runtime": 12.0, "train_loss": 1.6, "epoch": 0.3}),
    ]
    out = tracker.feed_trainer_state(state)
    assert [(p["step"], p["source"]) for p in out] == [(3, "trainer_state"), (4, "trainer_state")]
    assert out[0]["values"]["loss"] == 1.2
    assert tracker.stats["duplicates"] == 2
    assert len(tracker.steps) == 4


def test_trainer_state_after_jsonl_fills_only_gaps():
    tracker = MetricsTracker("j")
    tracker.feed_jsonl_line('{"step": 10, "loss": 2.0}')
    tracker.feed_jsonl_line('{"step": 10, "eval_loss": 2.2, "epoch": 1.0}')  # eval at the same step
    out = tracker.feed_trainer_state(
        [(10, {"loss": 2.0}), (10, {"eval_loss": 2.2, "epoch": 1.0}), (20, {"loss": 1.0})]
    )
    assert [(p["step"], p["values"]) for p in out] == [(20, {"loss": 1.0})]


def test_malformed_jsonl_lines_are_counted():
    tracker = MetricsTracker("j")
    for line in ['{"step": 1, "loss": 1.0}', '{"step": 2, "lo', "garbage", '{"loss": 3.0}', "", "[]"]:
        tracker.feed_jsonl_line(line)
    assert tracker.stats["jsonl_records"] == 1
    assert tracker.stats["malformed"] == 4  # truncated, garbage, no step, not an object


def test_restore_prevents_reemission_after_restart():
    first = MetricsTracker("j")
    lines = ['{"step": 5, "loss": 1.0}', '{"step": 10, "loss": 0.9}']
    emitted = [p for line in lines for p in first.feed_jsonl_line(line)]
    second = MetricsTracker("j")
    second.restore(emitted)
    again = [p for line in [*lines, '{"step": 15, "loss": 0.8}'] for p in second.feed_jsonl_line(line)]
    assert [p["step"] for p in again] == [15]
    assert second.summary()["steps_logged"] == 3 and second.latest["loss"] == 0.8
    # stdout-indexed jobs continue their index
    third = MetricsTracker("j", hold_seconds=0)
    third.restore([{"step": 1, "values": {"loss": 2.0}, "source": "stdout"}])
    assert [p["step"] for p in third.feed_log_line("{'loss': 1.9}")] == [2]


def test_nan_survives_into_payloads():
    tracker = MetricsTracker("j", hold_seconds=0)
    out = tracker.feed_log_line("{'loss': nan, 'grad_norm': 'inf', 'epoch': 0.5}")
    assert math.isnan(out[0]["values"]["loss"]) and out[0]["values"]["grad_norm"] == math.inf
    assert "loss" not in tracker.ranges  # ranges keep finite values only
