"""Startup stays light: nothing heavy is imported before the TUI's first frame or for --help."""

import json
import subprocess
import sys
import textwrap

HEAVY = ("litellm", "trl", "transformers", "torch", "datasets", "smolagents", "huggingface_hub", "pandas")

FIRST_FRAME = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from intern_tui.agent.session import Runtime
    from intern_tui.tui.app import InternApp

    async def main():
        rt = Runtime.open(Path(sys.argv[1]))
        app = InternApp(rt)  # no task: the new-session screen is the first frame
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            loaded = [m for m in %r if m in sys.modules]
            screen = type(app.screen).__name__
        rt.close()
        print(json.dumps({"loaded": loaded, "screen": screen}))

    asyncio.run(main())
    """
) % (HEAVY,)


def test_no_heavy_import_before_the_first_frame(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["screen"] == "NewSessionScreen"
    assert result["loaded"] == []


def test_help_imports_nothing_heavy():
    code = (
        "import sys, contextlib, io\nfrom intern_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main(['--help'])\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
