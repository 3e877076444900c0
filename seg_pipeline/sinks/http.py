"""Delivery with bounded retries, shared by the CRM and every alert channel.

Rules (R4): 408/429/5xx and timeouts retry with exponential backoff and full jitter, honouring
``Retry-After``, within a bounded number of attempts and total time; any other 4xx is final (dead letter);
401/403 stop the stage at once and 410 means the endpoint is gone. ``sleep`` and ``clock`` are injected so
tests verify waits without waiting.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))


class SinkStopError(RuntimeError):
    """The receiver refused us in a way retrying cannot fix; pending rows stay pending."""


class SinkAuthError(SinkStopError):
    """401/403: credentials missing, wrong or lacking scope."""


class SinkGoneError(SinkStopError):
    """410: the endpoint was removed; disable it in the configuration."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for one delivery: attempts, backoff base/cap and the total time budget (seconds)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 120.0
    timeout: float = 10.0


@dataclass(frozen=True)
class Attempt:
    """Classification of one try: what the retry loop should do next."""

    kind: Literal["ok", "retry", "dead", "stop_auth", "stop_gone"]
    status_code: int | None = None
    reason: str = ""
    retry_after: float | None = None
    response: httpx.Response | None = None


@dataclass(frozen=True)
class Outcome:
    """Final result of a delivery after retries."""

    kind: Literal["ok", "dead", "failed"]
    status_code: int | None
    reason: str
    attempts: int
    response: httpx.Response | None = None


class RateLimiter:
    """Spaces requests at least ``1 / rps`` apart on the injected clock."""

    def __init__(self, rps: float, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        """Allow ``rps`` requests per second (no limit when ``rps`` <= 0)."""
        self.interval = 1.0 / rps if rps > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Sleep until the next request may go out, then book the slot after it."""
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def short_reason(response: httpx.Response, limit: int = 300) -> str:
    """``HTTP <code>: <body excerpt>`` — the receiver's own words, bounded in size."""
    try:
        body = response.text.strip().replace("\n", " ")
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        body = ""
    return f"HTTP {response.status_code}: {body[:limit]}" if body else f"HTTP {response.status_code}"


def classify_response(response: httpx.Response, *, now: datetime | None = None) -> Attempt:
    """Map an HTTP response to the retry decision of R4."""
    code = response.status_code
    reason = short_reason(response)
    if 200 <= code < 300:
        return Attempt("ok", code, reason, response=response)
    if code in (401, 403):
        return Attempt("stop_auth", code, reason, response=response)
    if code == 410:
        return Attempt("stop_gone", code, reason, response=response)
    if code in RETRYABLE_STATUS:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
        return Attempt("retry", code, reason, retry_after=retry_after, response=response)
    return Attempt("dead", code, reason, response=response)


def run_with_retry(
    attempt_fn: Callable[[], Attempt],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    rng: random.Random,
    what: str,
) -> Outcome:
    """Call ``attempt_fn`` until it succeeds, fails for good, or the attempt/time budget is spent.

    Raises :class:`SinkAuthError` / :class:`SinkGoneError` at once; the message names ``what`` but never
    carries credentials.
    """
    start = clock()
    last: Attempt = Attempt("retry", reason="not attempted")
    for n in range(1, policy.max_attempts + 1):
        last = attempt_fn()
        if last.kind == "ok":
            return Outcome("ok", last.status_code, last.reason, n, last.response)
        if last.kind == "dead":
            return Outcome("dead", last.status_code, last.reason, n, last.response)
        if last.kind == "stop_auth":
            raise SinkAuthError(
                f"{what}: receiver refused our credentials ({last.reason}); stopping, pending items stay pending"
            )
        if last.kind == "stop_gone":
            raise SinkGoneError(f"{what}: endpoint is gone ({last.reason}); disable it in the configuration")
        if n == policy.max_attempts:
            break
        # Full jitter (AWS): uniform in [0, min(cap, base * 2^n)], but never shorter than Retry-After.
        delay = rng.uniform(0.0, min(policy.max_delay, policy.base_delay * 2 ** (n - 1)))
        if last.retry_after is not None:
            delay = max(delay, last.retry_after)
        if clock() - start + delay > policy.max_total:
            return Outcome("failed", last.status_code, f"{last.reason}; retry time budget exhausted", n)
        sleep(delay)
    return Outcome("failed", last.status_code, f"{last.reason}; gave up after {policy.max_attempts} attempts",
                   policy.max_attempts)


def http_attempt(
    client: httpx.Client,
    url: str,
    *,
    body: bytes,
    headers: Callable[[], Mapping[str, str]],
    limiter: RateLimiter | None = None,
) -> Callable[[], Attempt]:
    """One POST per call; ``headers`` is evaluated per try so tokens/signatures are read at send time."""

    def attempt() -> Attempt:
        if limiter is not None:
            limiter.wait()
        try:
            response = client.post(url, content=body, headers=dict(headers()))
        except httpx.TimeoutException as exc:
            return Attempt("retry", None, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Attempt("retry", None, f"transport error ({type(exc).__name__})")
        return classify_response(response)

    return attempt


def default_client(timeout: float) -> httpx.Client:
    """Make a client with bounded timeouts and no redirects (a redirect could leak the bearer token)."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
