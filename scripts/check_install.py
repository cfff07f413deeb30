"""Checks that the built wheel works on its own: `pip install intern-tui`, then the demo, every theme.

Builds the wheel from a copy of the source (setuptools' build/ folder in the checkout could carry stale
files into it), installs it with `pip install --no-deps --target DIR` (the dependencies are reused from
the running environment, so nothing is downloaded), and runs the installed copy from a folder outside the
checkout, with only DIR on PYTHONPATH, so the checkout cannot be imported by accident. Then:

- `intern_tui` imports from DIR, every bundled theme loads and the demo policy resource reads;
- `intern-tui demo --headless --yes` runs to the end from DIR (real tiny training on CPU, about a minute),
  and `intern-tui sessions show last --json` (also from DIR) says it is done, with its jobs completed.

`--quick` runs the demo without `--yes` instead (its jobs are denied: seconds, not a minute); the test
suite does that (tests/test_packaging.py). Offline; exit 0 when everything holds, else 1 with the reason.

    python scripts/check_install.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Nothing reaches the network (the tests set the same in tests/conftest.py; this script also runs alone).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
# What the installed copy must find through importlib.resources (relative to the package).
RESOURCES = (
    "demo/demo.jsonl",
    *(f"themes/{p.name}" for p in sorted((ROOT / "intern_tui" / "themes").glob("*.toml"))),
)

# Run by the installed copy: prints what it found, as JSON.
PROBE = """
import json, intern_tui
from importlib import resources
from intern_tui.commands.demo import POLICY
from intern_tui.tui.themes import BUNDLED, load_themes
policy = [json.loads(line) for line in POLICY.read_text(encoding="utf-8").splitlines()]
print(json.dumps({
    "file": intern_tui.__file__,
    "themes": sorted(t.name for t in load_themes([BUNDLED])),
    "policy_turns": len(policy),
    "policy_has_code": all("code" in turn for turn in policy),
}))
"""


class CheckFailed(Exception):
    pass


def build_wheel(out: Path) -> Path:
    """The wheel of the checkout as it is now, built from a copy of it, without build isolation (the
    running environment's setuptools) and without an index."""
    src = out / "src"
    src.mkdir(parents=True)
    shutil.copytree(
        ROOT / "intern_tui", src / "intern_tui", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = out / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(dist), str(src)],
        cwd=out,
    )  # fmt: skip
    [wheel] = dist.glob("intern_tui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [r for r in RESOURCES if f"intern_tui/{r}" not in names]
    if missing:
        raise CheckFailed(f"the wheel lacks {', '.join(missing)} (package data in pyproject.toml)")
    return wheel


def install(wheel: Path, target: Path) -> None:
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        cwd=target.parent,
    )


def installed_env(target: Path, home: Path) -> dict[str, str]:
    """Our environment with only the installed copy added; a fresh home and config folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERN_TUI_")}
    env |= OFFLINE_ENV
    env["PYTHONPATH"] = str(target)
    env["INTERN_TUI_HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home.parent / "config")
    return env


def probe(target: Path, cwd: Path, env: dict[str, str]) -> dict:
    """What the installed copy finds: where it imports from, its themes, the demo policy."""
    found = json.loads(_run([sys.executable, "-c", PROBE], cwd=cwd, env=env).stdout)
    if not Path(found["file"]).resolve().is_relative_to(target.resolve()):
        raise CheckFailed(f"intern_tui was imported from {found['file']}, not from the installed copy")
    expected = sorted(Path(r).stem for r in RESOURCES if r.startswith("themes/"))
    if found["themes"] != expected:
        raise CheckFailed(f"the installed copy loads the themes {found['themes']}, expected {expected}")
    if not found["policy_turns"] or not found["policy_has_code"]:
        raise CheckFailed("the installed demo policy is empty or malformed")
    return found


def run_demo(target: Path, cwd: Path, env: dict[str, str], approve: bool) -> dict:
    """`intern-tui demo --headless` by the installed console script; the session as `sessions show` says."""
    # The console script pip wrote, run by our interpreter (a noexec /tmp would refuse to execute it).
    cli = [sys.executable, str(target / "bin" / "intern-tui")]
    argv = [*cli, "demo", "--headless", "--json", *(["--yes"] if approve else [])]
    _run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, timeout=900)
    detail = json.loads(_run([*cli, "sessions", "show", "last", "--json"], cwd=cwd, env=env).stdout)
    policy = target / "intern_tui" / "demo" / "demo.jsonl"
    if detail["model"] != f"script:{policy}":
        raise CheckFailed(f"the demo ran {detail['model']}, not the installed policy {policy}")
    if detail["status"] != "done":
        raise CheckFailed(f"the demo ended {detail['status']}, not done")
    jobs = [j["status"] for j in detail["jobs"]]
    if approve and (not jobs or set(jobs) != {"completed"}):
        raise CheckFailed(f"the demo's jobs ended {jobs}, expected all completed")
    return detail


def _run(
    argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 300, **kw
) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise CheckFailed(
            f"{' '.join(Path(a).name for a in argv[:4])} … exited {result.returncode}: " + " | ".join(tail)
        )
    return result


def check(work: Path, approve: bool) -> list[str]:
    """The whole check in `work`; returns one line per step passed, raises CheckFailed."""
    wheel = build_wheel(work / "build")
    target = work / "site"
    install(wheel, target)
    outside = work / "elsewhere"  # not the checkout: only the installed copy is importable
    outside.mkdir()
    env = installed_env(target, work / "home")
    found = probe(target, outside, env)
    detail = run_demo(target, outside, env, approve)
    jobs = ", ".join(j["status"] for j in detail["jobs"]) or "none (denied)"
    return [
        f"wheel      {wheel.name} ({wheel.stat().st_size // 1024} KB)",
        f"installed  {target} (--no-deps --target)",
        f"imports    {found['file']}",
        f"themes     {', '.join(found['themes'])}",
        f"policy     {found['policy_turns']} turns",
        f"demo       {detail['status']} in {detail['steps']} steps; jobs: {jobs}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the demo without --yes (jobs denied; seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print where it is")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="intern-tui-install-"))
    try:
        for line in check(work, approve=not args.quick):
            print(line)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"check_install: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("check_install: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
