"""The layers hold: import-linter checks the contracts in pyproject.toml ([tool.importlinter]).

A broken contract fails here with import-linter's report (the chain of imports that breaks it). Imports
inside functions count: the second test plants one in a copy of the package and expects the break.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LINT = textwrap.dedent(
    """
    import sys
    from importlinter.cli import lint_imports

    sys.exit(lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True))
    """
)


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LINT], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_are_kept():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_lazy_import_of_the_supervisor_in_the_tui_breaks_a_contract(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT / "intern_tui", copy / "intern_tui", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    navigation = copy / "intern_tui" / "tui" / "navigation.py"
    navigation.write_text(
        navigation.read_text()
        + "\n\ndef _reach_in():\n    from ..agent.supervisor import Supervisor\n\n    return Supervisor\n"
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy shadows the installed package
    out = _lint(copy, env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "intern_tui.tui.navigation -> intern_tui.agent.supervisor" in out.stdout
    assert "1 broken" in out.stdout
