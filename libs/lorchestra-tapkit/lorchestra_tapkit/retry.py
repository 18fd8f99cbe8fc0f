"""The one retry policy of the tap family: which failures are retried, how long to wait, how often.

API calls (through singer-sdk's ``request_decorator``) and token requests (``tokens.py``) use the same
``RetryPolicy``, so a 429 from the token endpoint is treated exactly like a 429 from the API.
"""

from __future__ import annotations

import email.utils
import random
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Generator, Mapping

    from backoff.types import Details

#: Statuses retried by every tap: throttling and server-side failures.
RETRIABLE_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, *range(500, 600)})


def is_retriable_status(status: int) -> bool:
    """429 and every 5xx."""
    return status in RETRIABLE_STATUSES


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: ``delay-seconds`` or an ``HTTP-date`` (RFC 9110 10.2.3).

    Returns None when there is no usable value (absent, empty, garbled), so the caller falls back to its
    exponential backoff; a date in the past means "now" (0 seconds).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """How a tap retries a failed request (an API call or a token request).

    Attributes:
        max_attempts: tries per request, the first one included.
        backoff_base_seconds: first exponential wait when the server gives no Retry-After; doubles per try.
        backoff_max_seconds: no single wait is longer, a server's Retry-After included.
    """

    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 300.0

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> RetryPolicy:
        """The policy from a tap's settings (the family's names, see ``settings.retry_properties``)."""
        return cls(
            max_attempts=max(1, int(config.get("max_attempts") or cls.max_attempts)),
            backoff_base_seconds=float(config.get("backoff_base_seconds", cls.backoff_base_seconds)),
            backoff_max_seconds=float(config.get("backoff_max_seconds", cls.backoff_max_seconds)),
        )

    def wait_seconds(self, attempt: int, exception: BaseException | None = None) -> float:
        """The wait before try ``attempt + 1``, ``attempt`` counting from 1.

        A 401 is retried at once (the caller has dropped the rejected token). A ``Retry-After`` is
        honoured as given, up to ``backoff_max_seconds``; otherwise exponential backoff with jitter
        (half to all of the doubled base), so parallel runs do not retry in step.
        """
        response = getattr(exception, "response", None)
        if response is not None and response.status_code == HTTPStatus.UNAUTHORIZED:
            return 0.0
        header = response.headers.get("Retry-After") if response is not None else None
        retry_after = retry_after_seconds(header)
        if retry_after is not None:
            return min(retry_after, self.backoff_max_seconds)
        base = self.backoff_base_seconds * 2 ** (attempt - 1)
        return min(self.backoff_max_seconds, base / 2 + random.uniform(0, base / 2))  # noqa: S311 - jitter

    def wait_generator(self) -> Generator[float, t.Any, None]:
        """A ``backoff`` wait generator: ``backoff`` primes it with None, then sends each exception."""
        attempt = 0
        exception = yield  # type: ignore[misc]
        while True:
            attempt += 1
            exception = yield self.wait_seconds(attempt, exception)

    def log_retry(self, logger: logging.Logger, details: Details, what: str = "the request") -> None:
        """One warning per retry: what failed (its message, already free of secrets) and the wait."""
        exc = details.get("exception")
        logger.warning(
            "Retrying %s in %.2fs after attempt %d of %d: %s",
            what,
            details.get("wait", 0.0),
            details.get("tries", 0),
            self.max_attempts,
            exc if exc is not None and str(exc) else type(exc).__name__,
        )
