"""Delivery of partner alerts to where ops read them: a webhook and/or a local command.

Off by default: a :class:`DeliveryConfig` with neither ``webhook_url`` nor ``email_command``
sends nothing. :func:`deliver` takes ``partner_alerts`` (see :mod:`kol_vetting.monitor`), keeps
those at or above ``min_severity`` (and not already sent), and

* POSTs one JSON document (``{"alert_count": n, "generated_at": ..., "alerts": [...]}``) to the
  webhook with :mod:`urllib` (http/https only, no redirects followed, a timeout, retries with
  exponential back-off on network errors, 429 and 5xx);
* runs ``email_command`` (an argv list, never through a shell) with the same JSON on stdin, e.g.
  ``["/usr/local/bin/send-alert-mail", "ops@example.com"]``.

It never raises for a delivery failure: the :class:`DeliveryReport` says what was sent, what
failed and why. A webhook URL often embeds a secret, so :meth:`DeliveryConfig.from_env` reads
the settings from environment variables rather than a committed file, and reports never repeat
the URL's query string.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

SEVERITY_RANK: dict[str, int] = {"high": 0, "significant": 1, "minor": 2}
ALLOWED_SCHEMES = ("http", "https")
ENV_PREFIX = "KOL_ALERTS_"


class DeliveryConfig(BaseModel):
    """Where alerts go. Both targets None (the default) means delivery is off."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(None, description="http(s) URL that receives the alert JSON by POST.")
    email_command: list[str] | None = Field(
        None, description="argv list run with the alert JSON on stdin (never through a shell)."
    )
    min_severity: Literal["high", "significant", "minor"] = Field(
        "significant", description="Alerts below this severity are not sent."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per attempt (webhook) / per run (command).")
    retries: int = Field(3, ge=0, le=10, description="Extra webhook attempts after a retryable failure.")
    backoff_seconds: float = Field(1.0, ge=0, le=60, description="Wait before retry k is backoff * 2**(k-1).")
    send_empty: bool = Field(False, description="Also deliver when no alert qualifies (a heartbeat).")

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        problem = url_problem(v.strip())
        if problem:
            raise ValueError(problem)
        return v.strip()

    @field_validator("email_command")
    @classmethod
    def _check_command(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v or not all(isinstance(a, str) and a for a in v):
            raise ValueError("email_command must be a non-empty list of non-empty strings (an argv list)")
        return v

    @property
    def enabled(self) -> bool:
        """True when at least one target is configured."""
        return bool(self.webhook_url or self.email_command)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliveryConfig:
        """Settings from ``KOL_ALERTS_WEBHOOK_URL``, ``KOL_ALERTS_EMAIL_COMMAND`` (split like a
        shell would, but run without one), ``KOL_ALERTS_MIN_SEVERITY``, ``KOL_ALERTS_TIMEOUT``,
        ``KOL_ALERTS_RETRIES``. Unset variables keep the defaults (off)."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        if env.get(ENV_PREFIX + "WEBHOOK_URL"):
            raw["webhook_url"] = env[ENV_PREFIX + "WEBHOOK_URL"]
        if env.get(ENV_PREFIX + "EMAIL_COMMAND"):
            raw["email_command"] = shlex.split(env[ENV_PREFIX + "EMAIL_COMMAND"])
        if env.get(ENV_PREFIX + "MIN_SEVERITY"):
            raw["min_severity"] = env[ENV_PREFIX + "MIN_SEVERITY"].strip().lower()
        if env.get(ENV_PREFIX + "TIMEOUT"):
            raw["timeout_seconds"] = float(env[ENV_PREFIX + "TIMEOUT"])
        if env.get(ENV_PREFIX + "RETRIES"):
            raw["retries"] = int(env[ENV_PREFIX + "RETRIES"])
        return cls.model_validate(raw)


class ChannelResult(BaseModel):
    """The outcome of one delivery channel."""

    channel: Literal["webhook", "command"]
    target: str  # the URL without query/fragment, or the command's program
    ok: bool
    attempts: int = 0
    status: int | None = None  # HTTP status or process exit code
    error: str | None = None
    alert_ids: list[str] = Field(default_factory=list)


class DeliveryReport(BaseModel):
    """What :func:`deliver` did: alerts selected, and one result per channel tried."""

    enabled: bool
    selected: int = 0  # alerts at or above min_severity and not already sent
    skipped_below_severity: int = 0
    skipped_already_sent: int = 0
    results: list[ChannelResult] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every channel tried succeeded (vacuously true when nothing was tried)."""
        return all(r.ok for r in self.results)

    @property
    def sent_alert_ids(self) -> list[str]:
        """Alert ids delivered by at least one channel."""
        seen: dict[str, None] = {}
        for r in self.results:
            if r.ok:
                seen.update(dict.fromkeys(r.alert_ids))
        return list(seen)

    @property
    def failures(self) -> list[ChannelResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        """One line for logs and the Dagster UI."""
        if not self.enabled:
            return "Alert delivery is off (no webhook_url or email_command configured)."
        parts = [f"{self.selected} alert(s) selected"]
        for r in self.results:
            state = "sent" if r.ok else f"FAILED ({r.error})"
            parts.append(f"{r.channel} {r.target}: {state} after {r.attempts} attempt(s)")
        if not self.results:
            parts.append("nothing to send")
        return "; ".join(parts) + "."


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be used as a webhook, or None when it may (http/https with a host)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return f"webhook_url is not a valid URL: {exc}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"webhook_url must be http or https, not {parts.scheme or 'a bare path'!r}"
    if not parts.hostname:
        return "webhook_url has no host"
    if any(ch in url for ch in "\r\n\t "):
        return "webhook_url contains whitespace"
    return None


def _redacted(url: str) -> str:
    """The URL without credentials, query or fragment (they often carry secrets)."""
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urllib.parse.urlunsplit((p.scheme, host, p.path, "", ""))


def alerts_payload(alerts: pl.DataFrame, *, generated_at: dt.datetime | None = None) -> bytes:
    """The JSON document sent for ``alerts`` (UTF-8; datetimes as ISO 8601, UTC)."""
    rows = alerts.to_dicts() if alerts is not None else []
    doc = {
        "alert_count": len(rows),
        "generated_at": (generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat() + "Z",
        "alerts": rows,
    }

    def default(o: object) -> object:
        if isinstance(o, dt.datetime):
            return o.isoformat() + ("Z" if o.tzinfo is None else "")
        if isinstance(o, dt.date):
            return o.isoformat()
        return str(o)

    return json.dumps(doc, ensure_ascii=False, default=default).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a webhook that answers 3xx could point us anywhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _opener() -> urllib.request.OpenerDirector:
    # Only the handlers we need: no file://, ftp:// or data: handlers, no redirects.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _NoRedirect(),
    ):
        opener.add_handler(handler)
    return opener


def _post(url: str, body: bytes, config: DeliveryConfig, sleep: Callable[[float], None]) -> tuple[bool, int, int | None, str | None]:
    """POST with retries. Returns (ok, attempts, last status, last error)."""
    problem = url_problem(url)
    if problem:
        return False, 0, None, problem
    opener = _opener()
    status: int | None = None
    error: str | None = None
    attempts = 0
    for attempt in range(config.retries + 1):
        if attempt:
            sleep(config.backoff_seconds * 2 ** (attempt - 1))
        attempts += 1
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "kol-vetting-alerts/1"},
        )
        try:
            with opener.open(req, timeout=config.timeout_seconds) as resp:
                status = resp.status
                resp.read(1024)
            if 200 <= status < 300:
                return True, attempts, status, None
            error = f"HTTP {status}"
            retry = status == 429 or status >= 500
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            retry = exc.code == 429 or exc.code >= 500
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            status, error, retry = None, f"{type(exc).__name__}: {reason}", True
        if not retry:
            break
    return False, attempts, status, error


def _run_command(argv: list[str], body: bytes, config: DeliveryConfig) -> tuple[bool, int | None, str | None]:
    """Run ``argv`` (no shell) with ``body`` on stdin. Returns (ok, exit code, error)."""
    try:
        proc = subprocess.run(
            argv, input=body, capture_output=True, timeout=config.timeout_seconds, shell=False, check=False
        )
    except subprocess.TimeoutExpired:
        return False, None, f"timed out after {config.timeout_seconds:g} s"
    except OSError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-300:]
        return False, proc.returncode, f"exit code {proc.returncode}" + (f": {tail}" if tail else "")
    return True, 0, None


def deliver(
    alerts: pl.DataFrame,
    config: DeliveryConfig,
    *,
    already_sent: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send ``alerts`` (``partner_alerts`` rows) to the configured webhook and/or command.

    In: the alerts, the :class:`DeliveryConfig`, and ``already_sent`` alert ids to skip (so a
    re-run does not page ops twice for the same finding). ``sleep`` is the back-off wait
    (replaceable in tests). Out: a :class:`DeliveryReport`; failures are reported, never raised.
    """
    report = DeliveryReport(enabled=config.enabled)
    if not config.enabled or alerts is None:
        return report
    limit = SEVERITY_RANK[config.min_severity]
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=len(SEVERITY_RANK), return_dtype=pl.Int64)
    keep = alerts.filter(rank <= limit)
    report.skipped_below_severity = alerts.height - keep.height
    done = set(already_sent)
    if done and "alert_id" in keep.columns:
        fresh = keep.filter(~pl.col("alert_id").is_in(list(done)))
        report.skipped_already_sent = keep.height - fresh.height
        keep = fresh
    report.selected = keep.height
    if keep.is_empty() and not config.send_empty:
        return report
    ids = keep["alert_id"].cast(pl.String).to_list() if "alert_id" in keep.columns else []
    body = alerts_payload(keep)

    if config.webhook_url:
        ok, attempts, status, error = _post(config.webhook_url, body, config, sleep)
        report.results.append(
            ChannelResult(
                channel="webhook", target=_redacted(config.webhook_url), ok=ok, attempts=attempts,
                status=status, error=error, alert_ids=ids,
            )
        )
    if config.email_command:
        ok, code, error = _run_command(list(config.email_command), body, config)
        report.results.append(
            ChannelResult(
                channel="command", target=os.path.basename(config.email_command[0]), ok=ok, attempts=1,
                status=code, error=error, alert_ids=ids,
            )
        )
    return report
