"""The Hugging Face Jobs runner: run a workspace script on HF hardware with `run_uv_job`.

The script's PEP 723 header (`# /// script`) lists its dependencies; `uv` installs them in the job. The
remote log is mirrored line by line into `jobs/<id>/log.txt`, so the same watcher, parsers and detectors
serve local and HF jobs. Our templates print their metrics as marked JSON lines on HF (the metrics file
is not reachable there), so steps stay exact. Secrets go through `secrets=` only: never in the
environment, an event or a log line. `huggingface_hub` is imported only when an HF job is used.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ToolError
from .backend import BillingError
from .local import Outcome

log = logging.getLogger(__name__)

TERMINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}
# A refusal to bill, whatever the status code says: stop and ask, never retry or change namespace.
_BILLING = re.compile(
    r"payment required|quota|insufficient (?:credits?|balance|funds)|out of credits|billing", re.I
)


def default_api() -> Any:
    """A real HfApi, or a ToolError saying why HF Jobs can't be used from here."""
    from huggingface_hub import HfApi, constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise ToolError(
            "Hugging Face Jobs are unavailable: offline mode is on (HF_HUB_OFFLINE=1). "
            "Unset it and connect to the internet, or launch with backend='local'."
        )
    if not get_token():
        raise ToolError(
            "Hugging Face Jobs need a Hugging Face token: run `hf auth login` or set HF_TOKEN "
            "(a token with the Jobs permission on a paid account), or launch with backend='local'."
        )
    return HfApi()


def _stage(info: Any) -> str:
    status = getattr(info, "status", None)
    stage = getattr(status, "stage", None) or ""
    return str(getattr(stage, "value", stage)).upper()


def namespace_from_url(url: str | None) -> str | None:
    match = re.search(r"/jobs/([^/]+)/[^/]+/?$", url or "")
    return match.group(1) if match else None


def explain_hub_error(exc: Exception, action: str, namespace: str | None = None) -> ToolError:
    """One actionable line for a failed Hub call (no token values, no tracebacks)."""
    name = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if name in ("OfflineModeIsEnabled", "LocalEntryNotFoundError") or isinstance(exc, ConnectionError):
        return ToolError(
            f"cannot {action}: no connection to huggingface.co ({name}). Check the network or use backend='local'."
        )
    if status == 401:
        return ToolError(
            f"cannot {action}: the Hugging Face token was rejected (401). Run `hf auth login` again."
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if status == 402 or _BILLING.search(first):
        where = f" namespace {namespace!r}" if namespace else " your account"
        return BillingError(
            f"cannot {action}: Hugging Face refused to bill{where} ({status or 'quota'}: {first[:200]}). "
            "HF Jobs need a paid plan (PRO, Team or Enterprise) with credits or quota left. Not retried and "
            "not moved to another namespace: stop and ask the human to add credits or choose the namespace."
        )
    if status == 403:
        return ToolError(
            f"cannot {action}: not allowed (403). HF Jobs need a paid plan (PRO, Team or Enterprise) and a "
            "token with the Jobs permission"
            + (f" that may run jobs in namespace {namespace!r}." if namespace else ".")
        )
    if status == 404:
        return ToolError(f"cannot {action}: not found on the Hub (404)")
    return ToolError(f"cannot {action}: {first[:300]}")


class HfHandle:
    """A job on Hugging Face: status by polling `inspect_job`, logs mirrored into the local log file."""

    backend = "hf"
    pid = None
    pgid = None

    def __init__(
        self,
        api: Any,
        remote_id: str,
        *,
        namespace: str | None,
        url: str | None,
        flavor: str | None,
        log_path: Path,
        status_interval: float = 10.0,
        retry_interval: float = 5.0,
    ) -> None:
        self.api = api
        self.remote_id = remote_id
        self.namespace = namespace
        self.url = url
        self.flavor = flavor
        self.log_path = log_path
        self.status_interval = status_interval
        self.retry_interval = retry_interval
        self.stage = "SCHEDULING"
        self.message: str | None = None
        self.on_billing: Any = None  # called with the namespace when HF stops the job for billing
        self._last_poll = float("-inf")
        self._stop = threading.Event()
        self._lines_written = _count_lines(log_path)
        self._write_lock = threading.Lock()
        self._pump = threading.Thread(
            target=self._pump_logs, name=f"intern-tui-hf-logs-{remote_id}", daemon=True
        )
        self._pump.start()

    # -- status -----------------------------------------------------------------------------------

    def status_fields(self) -> dict[str, Any]:
        return {"remote_id": self.remote_id, "url": self.url, "flavor": self.flavor, "stage": self.stage,
                "namespace": self.namespace}  # fmt: skip

    def poll(self) -> Outcome | None:
        now = time.monotonic()
        if self.stage not in TERMINAL and now - self._last_poll >= self.status_interval:
            self._last_poll = now
            try:
                info = self.api.inspect_job(job_id=self.remote_id, namespace=self.namespace)
                self.stage = _stage(info) or self.stage
                self.message = getattr(getattr(info, "status", None), "message", None)
            except Exception as exc:  # a network blip: try again at the next interval
                log.warning("inspect_job %s failed: %s", self.remote_id, exc)
        if self.stage not in TERMINAL:
            return None
        self.close()
        self._pump.join(timeout=self.retry_interval + 5)
        self._fetch(follow=False)  # whatever the stream had not delivered yet
        if self.stage == "COMPLETED":
            return Outcome("completed", 0)
        if self.stage == "CANCELED":
            return Outcome("canceled", None, self.message or "canceled on Hugging Face")
        if self.stage == "DELETED":
            return Outcome("lost", None, "the job was deleted on Hugging Face")
        if self.message and _BILLING.search(self.message):  # ran out of credits or quota while running
            error = (
                f"Hugging Face stopped the job for billing in namespace {self.namespace!r}: {self.message[:200]}. "
                "Not retried and not moved to another namespace: stop and ask the human."
            )
            alert = {"kind": "billing", "severity": "critical", "message": error, "pause": True}
            if self.on_billing is not None:
                self.on_billing(self.namespace or "your account")
            return Outcome("failed", None, error, alert=alert)
        return Outcome("failed", None, f"the job failed on Hugging Face: {self.message or 'see its log'}")

    def running(self) -> bool:
        return self.stage not in TERMINAL

    def cancel(self, grace: float = 0.0) -> str:
        try:
            self.api.cancel_job(job_id=self.remote_id, namespace=self.namespace)
        except Exception as exc:
            raise explain_hub_error(exc, f"cancel HF job {self.remote_id}") from None
        self._last_poll = float("-inf")  # look at the status again right away
        return "requested"

    def close(self) -> None:
        self._stop.set()

    # -- logs -------------------------------------------------------------------------------------

    def _pump_logs(self) -> None:
        """Follow the remote log; when the stream ends early (timeouts), reconnect and skip what we have."""
        while not self._stop.is_set():
            self._fetch(follow=True)
            if self._stop.wait(self.retry_interval):
                return

    def _fetch(self, follow: bool) -> None:
        try:
            stream = self.api.fetch_job_logs(job_id=self.remote_id, namespace=self.namespace, follow=follow)
            for seen, line in enumerate(stream, start=1):
                self._offer(seen, line)
                if follow and self._stop.is_set():
                    return
        except Exception as exc:
            log.info("fetch_job_logs %s ended: %s", self.remote_id, exc)

    def _offer(self, number: int, line: str) -> None:
        """Append line `number` of the remote log unless we have it: the server replays the log from its
        start on every request, and the final fetch may overlap the follower."""
        with self._write_lock:
            if number <= self._lines_written:
                return
            text = str(line).rstrip("\n").replace("\n", " ") + "\n"
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(text)
            self._lines_written += 1


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def launch_hf(
    api: Any,
    *,
    script: Path,
    args: list[str],
    env: dict[str, str],
    secrets: dict[str, str] | None,
    flavor: str | None,
    timeout: float | None,
    name: str,
    log_path: Path,
    status_interval: float = 10.0,
    namespace: str | None = None,
) -> HfHandle:
    """Start `script` with `run_uv_job` and return its handle (logs start flowing into `log_path`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    try:
        info = api.run_uv_job(
            str(script),
            script_args=args,
            env=env,
            secrets=secrets or None,
            flavor=flavor or "cpu-basic",
            timeout=int(timeout) if timeout else None,
            name=name,
            labels={"intern-tui": "1"},
            **({"namespace": namespace} if namespace else {}),
        )
    except ToolError:
        raise
    except FileNotFoundError as exc:
        raise ToolError(f"cannot start the HF job: file not found: {exc}") from None
    except Exception as exc:
        raise explain_hub_error(exc, "start the HF job", namespace) from None
    owner = getattr(getattr(info, "owner", None), "name", None)
    url = getattr(info, "url", None)
    handle = HfHandle(
        api,
        info.id,
        namespace=namespace or owner or namespace_from_url(url),
        url=url,
        flavor=str(
            getattr(info.flavor, "value", info.flavor)
            if getattr(info, "flavor", None)
            else flavor or "cpu-basic"
        ),
        log_path=log_path,
        status_interval=status_interval,
    )
    handle.stage = _stage(info) or handle.stage
    return handle


class HfBackend:
    """Hugging Face Jobs. `namespace`: the account or organisation billed (config `[hf] namespace`; a
    launch's `namespace=` wins). Without one, HF bills the token's own account."""

    name = "hf"

    def __init__(self, api: Any = None, *, namespace: str | None = None, status_interval: float = 10.0):
        self._api = api
        self.namespace = namespace
        self.status_interval = status_interval
        self.refused: list[str] = []  # namespaces that refused to bill in this session

    def api(self) -> Any:
        return self._api if self._api is not None else default_api()

    def launch(self, spec: Any) -> HfHandle:
        from .local import check_agent_env

        check_agent_env(spec.env)
        api = self.api()
        remote_env = {str(k): str(v) for k, v in (spec.env or {}).items() if v is not None}
        remote_env.update(
            {"INTERN_TUI_JOB_ID": spec.job_id, "INTERN_TUI_METRICS_STDOUT": "1", "PYTHONUNBUFFERED": "1"}
        )
        try:
            return self._launch(api, spec, remote_env)
        except BillingError:
            self.refused.append(spec.namespace or self.namespace or "your account")
            raise

    def _launch(self, api: Any, spec: Any, remote_env: dict[str, str]) -> HfHandle:
        handle = launch_hf(
            api,
            script=spec.script,
            args=spec.args,
            env=remote_env,
            secrets=spec.secrets,
            flavor=spec.flavor,
            timeout=spec.timeout,
            name=spec.name or f"intern-tui-{spec.job_id}",
            log_path=spec.log_path,
            status_interval=self.status_interval,
            namespace=spec.namespace or self.namespace,
        )
        handle.on_billing = self.refused.append  # stopped for billing while running: the same rule
        return handle

    def reattach(self, row: dict[str, Any], job_dir: Path) -> HfHandle:
        started = row.get("started") or {}
        return HfHandle(
            self.api(),  # a ToolError here (offline now) lists the job without following it
            row.get("remote_id") or "",
            namespace=started.get("namespace") or namespace_from_url(row.get("url")) or self.namespace,
            url=row.get("url"),
            flavor=row.get("flavor"),
            log_path=job_dir / "log.txt",
            status_interval=self.status_interval,
        )

    def estimate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        from .costs import estimate_hf

        estimate = estimate_hf(arguments, self.namespace)
        if self.refused:  # never switch namespace (or retry) without a human: the next launch asks one
            where = ", ".join(dict.fromkeys(self.refused))
            estimate["flags"] = [f"billing: Hugging Face refused to bill {where} earlier in this session"]
        return estimate
