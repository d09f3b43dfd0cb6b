"""Retry decisions, as small pure functions (the clients only sleep and resend).

Retried: connection errors and timeouts, 408, capacity / rate-limit 429s and 5xx — for calls,
and for streams only before their first event reached the caller. Never retried: bad input,
authentication, the daily quota (it resets at 00:00 UTC), request too large. The delay is the
server's ``Retry-After`` when it sent one (capped), else 0.5 s doubling up to 8 s, shortened
by up to 25 % of jitter so that many clients do not retry in step.
"""

from __future__ import annotations

import random

from cf_mistral._errors import WorkersAIError

__all__ = ["INITIAL_DELAY", "MAX_DELAY", "MAX_RETRY_AFTER", "retry_delay", "should_retry"]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
# A Retry-After longer than this is not worth blocking a call for; give up and surface it.
MAX_RETRY_AFTER = 60.0


def should_retry(error: BaseException, *, attempt: int, max_retries: int) -> bool:
    """Whether ``error`` on attempt ``attempt`` (0-based) gets another attempt."""
    if attempt >= max_retries or not isinstance(error, WorkersAIError):
        return False
    if (getattr(error, "retry_after", None) or 0) > MAX_RETRY_AFTER:
        return False
    return error.retryable


def retry_delay(error: BaseException, *, attempt: int, jitter: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``."""
    retry_after: float | None = getattr(error, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), MAX_RETRY_AFTER)
    base = min(INITIAL_DELAY * 2.0**attempt, MAX_DELAY)
    fraction = random.random() if jitter is None else jitter
    return base * (1 - 0.25 * fraction)
