"""Agent code can't reach the OS, the environment or a sensitive tool's internals. Every attempt below runs
as a real agent step; each must fail, and each failure must be recorded as that step's error."""

import os

import pytest
from helpers import Checkpoints, write_policy

import intern_tui.redact as redact
from intern_tui.agent.sandbox import guard_code
from intern_tui.agent.session import Runtime, SessionOptions, start_session
from intern_tui.store.queries import iter_events

SECRET = "hf_SandboxCanaryAbCdEfGhIjKlMnOpQrSt"
MARKER = "/tmp/intern-tui-sandbox-marker"

ATTEMPTS = {
    "import_subprocess": (f"import subprocess\nsubprocess.run(['touch', '{MARKER}'])", "not allowed"),
    "dunder_import": (f"os = __import__('os')\nos.system('touch {MARKER}')", "__import__"),
    "open_passwd": ("print(open('/etc/passwd').read())", "open"),
    "getattr_globals": ("print(getattr(read_file, '__globals__'))", "dunder"),
    "closure_walk": ("print(spend.__closure__)", "dunder"),
    "globals_builtin": ("print(globals())", "globals"),
    "class_subclasses": ("print(().__class__.__bases__[0].__subclasses__())", "dunder"),
    "format_globals": ("print('{0.__globals__}'.format(read_file))", "format string"),
    "format_attr_read": ("f = '{0.__closure__}'.format\nprint(f(spend))", "format string"),
    "format_via_getattr": ("g = getattr('{0.__globals__}', 'format')\nprint(g(read_file))", "format string"),
    "format_unbound": ("print(str.format('{0.__globals__}', read_file))", "format string"),
    "format_map": ("print('{x.__class__.__mro__}'.format_map({'x': 1}))", "format string"),
    "random_os": ("import random\nprint(random._os.environ)", "Forbidden access to module"),
    "collections_sys": (
        "import collections\nprint(collections._sys.modules['os'].environ)",
        "Forbidden access",
    ),
    "write_dotdot": ("write_file('../escape.txt', 'x')", "leaves the workspace"),
    "write_absolute": (f"write_file('{MARKER}', 'x')", "absolute"),
    "write_symlink": ("write_file('link/escape.txt', 'x')", "symlink"),
    "read_environ_symlink": ("print(read_file('env'))", "symlink"),
    "sensitive_forward": ("print(spend.forward(1))", "has no attribute"),
    "sensitive_func": ("print(spend.func(1))", "has no attribute"),
    # smolagents wraps tools with functools.wraps, so __wrapped__ exists: it leads back to the same gated
    # closure, and the approval path still applies (denied here by the headless policy).
    "sensitive_wrapped": ("print(spend.__wrapped__(1))", "denied"),
    # found in review: generator frames lead back to the executor, the agent and its tools
    "generator_frame_walk": (
        "box = []\ng = (box[0].gi_frame.f_back for _ in [1])\nbox.append(g)\nf = next(g)\nprint(f.f_locals)",
        "interpreter internals",
    ),
    "frame_via_getattr": (
        "g = (x for x in [1])\nprint(getattr(g, 'gi_' + 'frame'))",
        "interpreter internals",
    ),
    "frame_via_format": (
        "g = (x for x in [1])\nprint('{0.gi_frame.f_globals}'.format(g))",
        "interpreter internals",
    ),
    "code_object": (
        "def f():\n    return 1\nprint(f.co_code if hasattr(f, 'co_code') else getattr(f, 'co_' + 'consts'))",
        "interpreter internals",
    ),
}


@pytest.fixture
def session(home, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr(redact, "_default", None)  # rebuild the redactor with the planted env value
    checkpoints = Checkpoints().install()
    rt = Runtime.open(home)
    turns = [(name, code) for name, (code, _) in ATTEMPTS.items()]
    turns += [
        ("Leak through a tool result.", "print(read_file('notes.txt'))"),
        ("Done.", "final_answer('finished probing')"),
    ]
    model = write_policy(tmp_path / "attack.jsonl", turns)
    sup = start_session(
        rt, SessionOptions(task="probe the sandbox", model=model, approve="none"), start=False
    )
    ws = sup.agent.python_executor and rt.store.workspace(sup.emitter.session_id)
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "link").symlink_to(outside)
    (ws / "env").symlink_to("/proc/self/environ")
    (ws / "notes.txt").write_text(f"token: {SECRET}\n")
    yield rt, sup, outside, checkpoints
    rt.close()
    checkpoints.uninstall()
    if os.path.exists(MARKER):
        os.remove(MARKER)


def test_every_bypass_attempt_fails_and_is_recorded(session):
    rt, sup, outside, _ = session
    sup.start()
    assert sup.wait(60) and sup.status == "done"
    rt.writer.flush()
    events = list(iter_events(rt.store.connect(), sup.emitter.session_id))
    observations = {e.step: e.payload for e in events if e.kind == "observation"}
    for step, (name, (_, expected)) in enumerate(ATTEMPTS.items(), start=1):
        error = observations[step]["error"]
        assert error, f"{name}: the attempt did not fail"
        assert expected.lower() in error.lower(), f"{name}: unexpected error {error!r}"
    assert len(ATTEMPTS) >= 10
    assert not os.path.exists(MARKER)
    assert list(outside.iterdir()) == []
    assert not (rt.store.workspace(sup.emitter.session_id).parent / "escape.txt").exists()
    # the sensitive tool never ran: the only way in was through an approval, which was denied
    assert not [c for c in session[3].calls if c[0] == "spend"]
    decided = [e.payload["status"] for e in events if e.kind == "approval_decided"]
    assert decided == ["denied"]


def test_no_secret_reaches_the_model_or_the_store(session):
    rt, sup, _, _ = session
    sup.start()
    assert sup.wait(60)
    leak_step = len(ATTEMPTS) + 1
    model_inputs = sup.agent.model.inner.seen_messages
    seen = " ".join(str(m.content) for call in model_inputs for m in call)
    assert SECRET not in seen
    assert "[REDACTED]" in seen  # the tool result was scrubbed, not dropped
    rt.writer.flush()
    obs = [
        e
        for e in iter_events(rt.store.connect(), sup.emitter.session_id, kinds=["observation"])
        if e.step == leak_step
    ]
    assert "token: [REDACTED]" in obs[0].payload["text"]
    rt.writer.flush()
    data = b"".join(p.read_bytes() for p in rt.store.home.iterdir() if p.name.startswith("sessions.db"))
    assert SECRET.encode() not in data


def test_format_guard_leaves_ordinary_formatting_alone():
    code = "print('{} {:.2f}'.format('loss', 0.5))\nx = {'a': 1}\nprint('{a}'.format_map(x))"
    rewritten = guard_code(code)
    assert "_checked_format" in rewritten
    from smolagents.local_python_executor import InterpreterError

    from intern_tui.agent.sandbox import SandboxedExecutor

    ex = SandboxedExecutor(redact.Redactor(env={}))
    ex.send_tools({})
    out = ex(code)
    assert out.logs == "loss 0.50\n1\n"
    with pytest.raises(InterpreterError):
        ex("print('{0.__class__}'.format(1))")
