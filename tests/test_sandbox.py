"""Agent code can't reach secrets, the OS, the network, files outside the workspace or the ToolGate.

Two layers, each tested through the real agent loop (scripted policy → CodeAgent → worker process):
- the restricted interpreter inside the worker refuses every known route (first test);
- the process boundary holds even when that layer is gone: a worker whose code runs as plain Python
  (tests/raw_worker.py, "agent code escaped the interpreter") still finds no secret, no network, no file of
  the user, no way to the gate, and its limits (memory, CPU, wall clock, processes) still apply.
Every attempt must fail, be recorded as that step's error (or observation), and the session must go on.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import threading
import types

import pytest
from helpers import Checkpoints, wait_for, write_policy
from smolagents.local_python_executor import BASE_BUILTIN_MODULES

import intern_tui.redact as redact
from intern_tui.agent.session import Runtime, SessionOptions, start_session
from intern_tui.sandbox import Limits, SandboxSettings, probe, settings_from_config
from intern_tui.sandbox.isolation import TaskLimit, bwrap_command, worker_env
from intern_tui.sandbox.policy import guard_code
from intern_tui.store.queries import iter_events

SECRET = "hf_SandboxCanaryAbCdEfGhIjKlMnOpQrSt"
LLM_KEY = "sk-proj-SandboxCanaryLlmKey0123456789abcdef"
MARKER = "/tmp/intern-tui-sandbox-marker"
BWRAP = probe("auto")
needs_bwrap = pytest.mark.skipif(BWRAP.level != "bubblewrap", reason=BWRAP.detail)

STR_SUBCLASS = "class S(str):\n    def startswith(self, prefix):\n        return False\n"

LAYER1_ATTEMPTS = {
    "import_subprocess": (f"import subprocess\nsubprocess.run(['touch', '{MARKER}'])", "not allowed"),
    "import_os_fork": ("import os\nos.fork()", "not allowed"),
    "import_multiprocessing": ("import multiprocessing", "not allowed"),
    "import_socket": ("import socket\nsocket.create_connection(('1.1.1.1', 80))", "not allowed"),
    "import_urllib": ("import urllib.request", "not allowed"),
    "dunder_import": (f"os = __import__('os')\nos.system('touch {MARKER}')", "__import__"),
    "open_passwd": ("print(open('/etc/passwd').read())", "open"),
    "getattr_globals": ("print(getattr(read_file, '__globals__'))", "dunder"),
    "closure_walk": ("print(spend.__closure__)", "dunder"),
    "tool_closure_globals": ("print(getattr(list_files, '__closure__'))", "dunder"),
    "globals_builtin": ("print(globals())", "globals"),
    "class_subclasses": ("print(().__class__.__bases__[0].__subclasses__())", "dunder"),
    "str_subclass_getattr": (
        STR_SUBCLASS + "import random\nprint(getattr(random.seed, S('__globals__')))",
        "dunder",
    ),
    "str_subclass_setattr": (STR_SUBCLASS + "setattr(list_files, S('__code__'), None)", "dunder"),
    "str_subclass_hasattr": (STR_SUBCLASS + "print(hasattr(list_files, S('__closure__')))", "dunder"),
    "traceback_frame": (
        "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__traceback__.tb_frame)",
        "forbidden access",
    ),
    "traceback_getattr": (
        "try:\n    1 / 0\nexcept Exception as e:\n    print(getattr(e, 'with_traceback')(None).tb_frame)",
        "internals",
    ),
    "format_globals": ("print('{0.__globals__}'.format(read_file))", "format string"),
    "format_attr_read": ("f = '{0.__closure__}'.format\nprint(f(spend))", "format string"),
    "format_via_getattr": ("g = getattr('{0.__globals__}', 'format')\nprint(g(read_file))", "format string"),
    "format_unbound": ("print(str.format('{0.__globals__}', read_file))", "format string"),
    "format_map": ("print('{x.__class__.__mro__}'.format_map({'x': 1}))", "format string"),
    "format_str_subclass": (STR_SUBCLASS + "import re\nprint(S('{0.enum.sys}').format(re))", "format string"),
    "random_os": ("import random\nprint(random._os.environ)", "Forbidden access to module"),
    "collections_sys": (
        "import collections\nprint(collections._sys.modules['os'].environ)",
        "Forbidden access",
    ),
    "write_dotdot": ("write_file('../escape.txt', 'x')", "leaves the workspace"),
    "write_absolute": (f"write_file('{MARKER}', 'x')", "absolute"),
    "write_symlink": ("write_file('link/escape.txt', 'x')", "symlink"),
    "read_environ_symlink": ("print(read_file('env'))", "symlink"),
    "read_proc_environ": ("print(read_file('/proc/self/environ'))", "absolute"),
    "read_store": ("print(read_file('../../sessions.db'))", "leaves the workspace"),
    "sensitive_forward": ("print(spend.forward(1))", "has no attribute"),
    "sensitive_func": ("print(spend.func(1))", "has no attribute"),
    "sensitive_direct": ("print(spend(5))", "denied"),  # the only way in is an approval: denied here
    "generator_frame_walk": (
        "box = []\ng = (box[0].gi_frame.f_back for _ in [1])\nbox.append(g)\nf = next(g)\nprint(f.f_locals)",
        "interpreter internals",
    ),
    "frame_via_getattr": (
        "g = (x for x in [1])\nprint(getattr(g, 'gi_' + 'frame'))",
        "interpreter internals",
    ),
    "frame_via_format": ("g = (x for x in [1])\nprint('{0.gi_frame.f_globals}'.format(g))", "format string"),
    "code_object": (
        "def f():\n    return 1\nprint(f.co_code if hasattr(f, 'co_code') else getattr(f, 'co_' + 'consts'))",
        "interpreter internals",
    ),
    "ten_gigabytes": ("x = 'x' * (10 * 2**30)\nprint(len(x))", "MemoryError"),
    "endless_loop": ("n = 0\nwhile True:\n    n += 1", "wall-clock limit"),
    # a regex that backtracks forever inside C: nothing in Python can stop it; the worker is killed
    "catastrophic_regex": ("import re\nprint(re.match('(a+)+$', 'a' * 64 + 'b'))", "did not stop"),
}


def _module_walks() -> dict[str, tuple[str, str]]:
    """For every module agent code may import: a walk through its attributes to sys/os/builtins, written as a
    format template (str.format looks attributes up in C) and as plain attribute access. Both must fail."""
    walks: dict[str, tuple[str, str]] = {}
    for name in [*BASE_BUILTIN_MODULES, "json"]:
        path = _path_to_os(importlib.import_module(name))
        if path is None:  # no route to the OS from this module: still try the classic dunder walk
            walks[f"format_{name}"] = (
                f"import {name}\nprint('{{0.__loader__}}'.format({name}))",
                "format string",
            )
            continue
        dotted = ".".join(path)
        walks[f"format_{name}"] = (f"import {name}\nprint('{{0.{dotted}}}'.format({name}))", "format string")
        walks[f"attr_{name}"] = (f"import {name}\nprint({name}.{dotted})", "Forbidden access to module")
    return walks


def _path_to_os(module, depth: int = 3) -> list[str] | None:
    queue, seen = [(module, [])], {id(module)}
    while queue:
        obj, path = queue.pop(0)
        if len(path) >= depth:
            continue
        for attr in dir(obj):
            if attr.startswith("__"):
                continue
            value = getattr(obj, attr, None)
            if isinstance(value, types.ModuleType):
                if value.__name__ in ("os", "posix", "sys", "builtins"):
                    return [*path, attr]
                if id(value) not in seen:
                    seen.add(id(value))
                    queue.append((value, [*path, attr]))
    return None


ATTEMPTS = {**LAYER1_ATTEMPTS, **_module_walks()}


@pytest.fixture
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", LLM_KEY)
    monkeypatch.setattr(redact, "_default", None)  # rebuild the redactor with the planted values


@pytest.fixture
def cps():
    checkpoints = Checkpoints().install()
    yield checkpoints
    checkpoints.uninstall()


def _session(home, tmp_path, turns, limits: Limits, isolation: str = "auto"):
    rt = Runtime.open(home)
    model = write_policy(tmp_path / "attack.jsonl", turns)
    options = SessionOptions(
        task="probe the sandbox", model=model, approve="none", sandbox=SandboxSettings(isolation, limits)
    )
    sup = start_session(rt, options, start=False)
    return rt, sup, rt.store.workspace(sup.emitter.session_id)


def _events(rt, sup, kinds=None):
    rt.writer.flush()
    return list(iter_events(rt.store.connect(), sup.emitter.session_id, kinds=kinds))


def _store_bytes(rt) -> bytes:
    rt.writer.flush()
    return b"".join(p.read_bytes() for p in rt.store.home.iterdir() if p.name.startswith("sessions.db"))


def test_every_first_layer_attempt_fails_is_recorded_and_the_session_goes_on(
    home, tmp_path, secrets_in_env, cps
):
    turns = [(name, code) for name, (code, _) in ATTEMPTS.items()]
    turns += [
        ("Leak through a tool result.", "print(read_file('notes.txt'))"),
        ("Still here?", "print('alive')"),
    ]
    rt, sup, ws = _session(home, tmp_path, turns, Limits(step_timeout=3, memory_mb=2048))
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "link").symlink_to(outside)
    (ws / "env").symlink_to("/proc/self/environ")
    (ws / "notes.txt").write_text(f"token: {SECRET}\n")
    try:
        sup.start()
        assert sup.wait(180) and sup.status == "done", sup.error
        observations = {e.step: e.payload for e in _events(rt, sup, ["observation"])}
        wrong = {
            name: observations[step]["error"]
            for step, (name, (_, expected)) in enumerate(ATTEMPTS.items(), start=1)
            if expected.lower() not in (observations[step]["error"] or "").lower()
        }
        assert not wrong, f"attempts that did not fail as expected: {wrong}"
        assert "token: [REDACTED]" in observations[len(ATTEMPTS) + 1]["text"]
        assert "alive" in observations[len(ATTEMPTS) + 2]["text"]  # the session went on after all of it
        assert not os.path.exists(MARKER)
        assert list(outside.iterdir()) == []
        assert not (ws.parent / "escape.txt").exists()
        assert not [c for c in cps.calls if c[0] == "spend"]  # the sensitive tool never ran
        assert [e.payload["status"] for e in _events(rt, sup, ["approval_decided"])] == ["denied"]
        # the regex could only be stopped by killing its worker: restarted once, and the agent was told
        phases = [e.payload["phase"] for e in _events(rt, sup, ["sandbox"])]
        assert phases.count("restarted") == 1
        regex_step = list(ATTEMPTS).index("catastrophic_regex") + 1
        assert "variables from earlier steps are gone" in observations[regex_step]["error"]
        # nothing secret reached the model or the disk
        seen = " ".join(str(m.content) for call in sup.agent.model.inner.seen_messages for m in call)
        assert SECRET not in seen and LLM_KEY not in seen
        assert SECRET.encode() not in _store_bytes(rt)
    finally:
        rt.close()
        if os.path.exists(MARKER):
            os.remove(MARKER)


# -- the process boundary alone: the first layer removed ---------------------------------------------------


class _Listener:
    """A TCP server on the host's loopback: agent code must not be able to reach it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop.set()
        self.sock.close()


def _use_raw_worker(sup, ws) -> None:
    """Swap the session's worker for one without the first layer (the session prestarted a normal one)."""
    shutil.copy(os.path.join(os.path.dirname(__file__), "raw_worker.py"), ws / "raw_worker.py")
    executor = sup.agent.python_executor
    executor.wait_ready()
    executor.cleanup()
    executor.worker_module = "raw_worker"
    executor.extra_paths = (str(ws),)


def _raw_attempts(home, tmp_path, port: int) -> dict[str, tuple[str, str]]:
    """(code, text its observation or error must contain). The code is plain Python."""
    pid = os.getpid()
    return {
        "environment": (
            "import os\nprint(sorted(os.environ))\nprint(os.environ.get('HF_TOKEN'), os.environ.get('OPENAI_API_KEY'))",
            "None None",
        ),
        "proc_environ": (
            "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n"
            "        print(p, open(f'/proc/{p}/environ', 'rb').read())\n"
            f"print('parent', os.path.exists('/proc/{pid}/environ') and open('/proc/{pid}/environ','rb').read())",
            "parent False",
        ),
        "user_files": (  # only the workspace (and the Python install) is there; the rest is empty paths
            f"import os\nprint([os.path.exists(p) for p in ('{home}/sessions.db', '/etc/passwd', '/home/x')],"
            f" os.listdir('{tmp_path}'), os.listdir('{home}'))",
            "[False, False, False] ['home'] ['workspaces']",
        ),
        "write_workspace": ("open('planted.py', 'w').write('x')", "Read-only file system"),
        "write_tmp": (
            f"open('{MARKER}', 'w').write('x')\nprint('wrote a private tmp')",
            "wrote a private tmp",
        ),
        "network": (
            f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\n"
            "except OSError as e:\n    print('no network:', e)",
            "no network",
        ),
        "forge_tool_call": ("print(worker._call_tool('spend', (5,), {}))", "denied"),
        "forge_unknown_tool": ("print(worker._call_tool('set_policy', ('all',), {}))", "no such tool call"),
        "forge_after": ("print(worker._call_tool('spend', (7,), {}))", "denied"),  # the policy is unchanged
        "fork_bomb": (
            "import os, time\nn = 0\ntry:\n    for i in range(1000):\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print('fork stopped after', n)",
            "fork stopped after",
        ),
        "cpu_loop": ("while True:\n    pass", "CPU time"),
        "swallowing_loop": (
            "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
            "did not stop",
        ),
        "big_allocation": ("b = bytearray(10 * 2**30)", "MemoryError"),
        "self_kill": (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
            "process running your code died",
        ),
        "after": ("print('still here')", "still here"),
    }


@needs_bwrap
def test_the_process_boundary_holds_without_the_first_layer(home, tmp_path, secrets_in_env, cps):
    listener = _Listener()
    attempts = _raw_attempts(home, tmp_path, listener.port)
    if os.geteuid() == 0 and TaskLimit("probe").dir is None:
        attempts.pop("fork_bomb")  # root without a pids cgroup: no process limit to test (doctor says so)
    turns = [(name, code) for name, (code, _) in attempts.items()]
    limits = Limits(step_timeout=4, cpu_seconds=1.5, memory_mb=1024, kill_grace=1.0)
    rt, sup, ws = _session(home, tmp_path, turns, limits, isolation="bubblewrap")
    _use_raw_worker(sup, ws)
    try:
        sup.start()
        assert sup.wait(180) and sup.status == "done", sup.error
        observations = {e.step: e.payload for e in _events(rt, sup, ["observation"])}
        outcomes = {
            name: (observations[step].get("error") or "") + (observations[step].get("text") or "")
            for step, name in enumerate(attempts, start=1)
        }
        wrong = {n: t[:400] for n, t in outcomes.items() if attempts[n][1].lower() not in t.lower()}
        assert not wrong, f"attempts with an unexpected outcome: {wrong}"
        everything = " ".join(str(p) for p in observations.values())
        assert SECRET not in everything and LLM_KEY not in everything
        assert listener.accepted == 0
        assert not os.path.exists(MARKER)  # its /tmp was the sandbox's own
        assert not (ws / "planted.py").exists()
        if "fork_bomb" in attempts:
            forks = int(
                observations[list(attempts).index("fork_bomb") + 1]["text"].split("after")[1].split()[0]
            )
            assert forks < 300
        decided = _events(rt, sup, ["approval_decided"])
        assert [e.payload["status"] for e in decided] == ["denied", "denied"]
        assert not [c for c in cps.calls if c[0] == "spend"]
        assert sup.approvals.policy == "none"
        phases = [e.payload["phase"] for e in _events(rt, sup, ["sandbox"])]
        assert phases.count("restarted") == 2  # the loop that swallowed the interrupt, and the self-kill
    finally:
        listener.close()
        rt.close()
        if os.path.exists(MARKER):
            os.remove(MARKER)


def _raw_worker_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and b"raw_worker" in open(f"/proc/{entry}/cmdline", "rb").read():
                found.append(int(entry))
        except OSError:
            continue
    return found


@needs_bwrap
def test_closing_the_session_leaves_none_of_the_code_s_processes_behind(home, tmp_path, cps):
    fork = "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(120)\n        os._exit(0)"
    turns = [("Fork.", fork), ("Hold.", "print(checkpoint('forked'))"), ("Done.", "print('bye')")]
    rt, sup, ws = _session(home, tmp_path, turns, Limits(), "bubblewrap")
    _use_raw_worker(sup, ws)
    try:
        sup.start()
        cps.wait_reached("forked")  # the session holds here until the test has seen the processes
        wait_for(lambda: len(_raw_worker_processes()) >= 4)  # the worker and its three children
        cps.release("forked")
        assert sup.wait(60) and sup.status == "done", sup.error
    finally:
        rt.close()
    wait_for(lambda: not _raw_worker_processes(), timeout=10)


def test_process_isolation_runs_the_same_loop(home, tmp_path, secrets_in_env):
    turns = [
        ("Count.", "x = 40\nprint(x + 2)"),
        ("Keep state.", "print(x + 1)"),
        ("Done.", "final_answer(x)"),
    ]
    rt, sup, _ = _session(home, tmp_path, turns, Limits(), isolation="process")
    try:
        sup.start()
        assert sup.wait(60) and sup.status == "done" and sup.final_answer == 40
        texts = [e.payload["text"] for e in _events(rt, sup, ["observation"])]
        assert "42" in texts[0] and "41" in texts[1]
        started = _events(rt, sup, ["session_started"])[0].payload
        assert started["isolation"] == "process"
    finally:
        rt.close()


# -- units -------------------------------------------------------------------------------------------------


def test_the_worker_environment_holds_nothing_of_ours(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("PYTHONSTARTUP", "/tmp/evil.py")
    env = worker_env(tmp_path)
    assert SECRET not in str(env) and "PYTHONSTARTUP" not in env and "HF_TOKEN" not in env
    argv = bwrap_command("bwrap", tmp_path, ["python"])
    for flag in ("--unshare-all", "--clearenv", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert "--share-net" not in argv
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert str(tmp_path.resolve()) in binds
    assert "--bind" not in argv  # everything is read-only, the workspace too
    assert not any(b in ("/", "/home", "/root", "/etc", str(os.path.expanduser("~"))) for b in binds)


def test_sandbox_settings_from_config():
    settings = settings_from_config({"isolation": "process", "memory_mb": 2048, "step_timeout": 0})
    assert settings.isolation == "process"
    assert settings.limits.memory_mb == 2048 and settings.limits.step_timeout is None
    assert settings.limits.cpu_seconds == Limits().cpu_seconds
    from intern_tui.errors import BadInput

    with pytest.raises(BadInput, match="isolation must be one of"):
        settings_from_config({"isolation": "docker"})
    with pytest.raises(BadInput, match="memory_mb must be a number"):
        settings_from_config({"memory_mb": "lots"})


def test_requiring_bubblewrap_where_it_is_missing_is_a_clear_error(monkeypatch):
    from intern_tui.errors import BadInput
    from intern_tui.sandbox import isolation, resolve_isolation

    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    isolation.probe.cache_clear()
    try:
        assert probe("auto").level == "process" and "not installed" in probe("auto").detail
        with pytest.raises(BadInput, match="needs bubblewrap"):
            resolve_isolation(SandboxSettings("bubblewrap"))
    finally:
        isolation.probe.cache_clear()


def test_format_guard_leaves_ordinary_formatting_alone():
    code = "print('{} {:.2f}'.format('loss', 0.5))\nx = {'a': 1}\nprint('{a} {0[a]:>4}'.format_map({'a': x['a'], 0: x}))"
    assert "_checked_format" in guard_code(code)
    from smolagents.local_python_executor import InterpreterError

    from intern_tui.sandbox.policy import checked_format

    assert checked_format("{:>{w}.{p}f}", "format")(3.14159, w=8, p=2) == "    3.14"
    with pytest.raises(InterpreterError):
        checked_format("{0.real}", "format")(1)
