"""The compact replay model: bulk payloads read back from the store by seq, metrics as seq-indexed
series. Whatever is kept compactly must answer exactly what the in-memory fold answers."""

import random
from array import array

from generated import build_session

from intern_tui.agent.session import Runtime
from intern_tui.store.queries import iter_events
from intern_tui.tui.history import MetricsTimeline, StoredPayloads
from intern_tui.tui.screens.replay import event_batches, load_session_model
from intern_tui.tui.state import SessionModel


def test_a_replay_from_the_store_answers_like_a_fold_held_in_memory(home):
    rt = Runtime.open(home)
    sid = build_session(rt, 6_000, seed=3)
    conn = rt.store.connect()
    held = SessionModel(live=False)
    held.apply_all(iter_events(conn, sid))
    stored = load_session_model(rt.store, sid)
    assert stored.last_seq == held.last_seq == 6_000
    job = next(iter(held.jobs))
    rng = random.Random(0)
    for at in [1, 2_999, 6_000, *(rng.randint(1, 6_000) for _ in range(20))]:
        assert stored.job_log_at(job, at, tail=300) == held.job_log_at(job, at, tail=300)
        assert stored.gpu_at(at, history=50) == held.gpu_at(at, history=50)
        for name in ("loss", "reward"):
            a = stored.metric_timeline.as_of(at).get(name, job)
            b = held.metric_timeline.as_of(at).get(name, job)
            assert (a is None) == (b is None)
            if a is not None:
                assert list(a.steps) == list(b.steps) and list(a.values) == list(b.values)
    # nothing bulky is kept per event: log chunks and GPU samples are seqs, read back when shown
    assert isinstance(stored.jobs[job].chunk_seqs, array) and isinstance(stored._gpu_seqs, array)
    assert isinstance(stored.payloads, StoredPayloads)
    rt.close()


def test_the_first_batch_is_small_and_bulk_rows_come_without_payloads(home):
    rt = Runtime.open(home)
    sid = build_session(rt, 5_000, seed=4)
    batches = list(event_batches(rt.store.connect(), sid, first=100, size=1_000))
    assert [len(b) for b in batches] == [100, 1_000, 1_000, 1_000, 1_000, 900]
    logs = [e for b in batches for e in b if e.kind == "job_log"]
    assert logs and all(e.payload == {"job_id": e.payload["job_id"]} and not e.payload_json for e in logs)
    assert all(e.payload_json for b in batches for e in b if e.kind == "model_output")
    rt.close()


def test_metrics_as_of_an_event_are_the_points_logged_by_then():
    timeline = MetricsTimeline()
    for seq, step in enumerate(range(1, 11), start=100):
        timeline.add(seq, "job-1", step, {"loss": 1.0 / step, "lr": 1e-5})
    timeline.add_alert(105, {"job_id": "job-1", "kind": "spike", "metric": "loss", "step": 6, "message": "!"})
    view = timeline.as_of(104)
    assert list(view.get("loss", "job-1").steps) == [1, 2, 3, 4, 5]
    assert view.alerts_for("loss") == []
    assert len(timeline.as_of(105).alerts_for("loss")) == 1
    assert timeline.as_of(99).get("loss", "job-1") is None and timeline.as_of(99).groups() == {}
    assert view.latest("job-1") == {"loss": 0.2, "lr": 1e-5}
    # a resumed job logs earlier steps again: points are then filtered by the seq that wrote them
    timeline.add(200, "job-1", 3, {"loss": 9.0})
    assert len(timeline.as_of(150).get("loss", "job-1")) == 9  # step 3's point was rewritten at seq 200
    assert list(timeline.as_of(200).get("loss", "job-1").values)[2] == 9.0


def test_a_live_window_s_history_fold_reads_only_what_it_keeps_and_answers_the_same(home):
    """Attach and resume fold the stored history with old log chunks and GPU samples counted, not read:
    the live model must end exactly as the plain fold of every event leaves it."""
    from intern_tui.tui.history import fold_history

    rt = Runtime.open(home)
    sid = build_session(rt, 12_000, seed=5)
    conn = rt.store.connect()
    plain = SessionModel(live=True, max_log_lines=300, max_gpu=50)
    plain.apply_all(iter_events(conn, sid))
    folded = SessionModel(live=True, max_log_lines=300, max_gpu=50)
    fold_history(conn, sid, folded)
    assert folded.last_seq == plain.last_seq == 12_000
    assert plain.jobs and set(folded.jobs) == set(plain.jobs)
    for job_id, job in plain.jobs.items():
        other = folded.jobs[job_id]
        assert list(other.log) == list(job.log) and other.log_total == job.log_total > 300
        assert other.latest == job.latest and other.status == job.status
    assert list(folded.gpu) == list(plain.gpu) and len(plain.gpu) == 50
    assert [(i.seq, i.text) for i in folded.stream] == [(i.seq, i.text) for i in plain.stream]
    assert folded.metrics == plain.metrics
    # and up to an earlier event (what a resume folds before the agent goes on)
    early = SessionModel(live=True, max_log_lines=300, max_gpu=50)
    fold_history(conn, sid, early, upto_seq=5_000)
    reference = SessionModel(live=True, max_log_lines=300, max_gpu=50)
    reference.apply_all(iter_events(conn, sid, upto_seq=5_000))
    assert early.last_seq == reference.last_seq == 5_000
    assert {j: list(x.log) for j, x in early.jobs.items()} == {
        j: list(x.log) for j, x in reference.jobs.items()
    }
    rt.close()


def test_the_history_fold_keeps_a_progress_bar_drawn_only_in_old_chunks(home):
    from intern_tui.bus import Emitter
    from intern_tui.tui.history import fold_history

    rt = Runtime.open(home)
    em = Emitter(rt.bus, "progress")
    em.emit("job_started", {"job_id": "job-p", "backend": "local", "script": "t.py"})
    for i in range(40):  # a progress bar early, then plain lines only
        payload = {"job_id": "job-p", "lines": [f"line {i}.{k}" for k in range(50)]}
        if i < 5:
            payload["progress"] = f"{i * 20}%|██"
        em.emit("job_log", payload)
    rt.writer.flush(timeout=None)
    conn = rt.store.connect()
    plain = SessionModel(live=True, max_log_lines=300)
    plain.apply_all(iter_events(conn, "progress"))
    folded = SessionModel(live=True, max_log_lines=300)
    fold_history(conn, "progress", folded)
    job, other = plain.jobs["job-p"], folded.jobs["job-p"]
    assert other.progress == job.progress == "80%|██"
    assert other.log_total == job.log_total == 2000 and list(other.log) == list(job.log)
    rt.close()
