"""The configurable bounds of input (README "Limits"): environment variables, each with a
CLI flag of the root command that sets the same variable for the commands it runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from domain.touchpoints import DEFAULT_LIMITS, EnvelopeLimits

FUTURE_SKEW_ENV: Final = "EVENTCHAIN_MAX_FUTURE_SKEW_S"
MAX_AGE_ENV: Final = "EVENTCHAIN_MAX_AGE_DAYS"
ENVELOPE_BYTES_ENV: Final = "EVENTCHAIN_MAX_ENVELOPE_BYTES"


class LimitsError(ValueError):
    """A bound configured with a value that is not a positive number."""


def limits_from_env(environ: Mapping[str, str] | None = None, **changes: object) -> EnvelopeLimits:
    """The default limits, with any set by environment variables; ``changes`` win."""
    env = os.environ if environ is None else environ
    skew = _number(env, FUTURE_SKEW_ENV, DEFAULT_LIMITS.max_future_skew.total_seconds())
    age = _number(env, MAX_AGE_ENV, DEFAULT_LIMITS.max_age.days)
    size = _number(env, ENVELOPE_BYTES_ENV, DEFAULT_LIMITS.max_bytes)
    fields: dict[str, object] = {
        "max_future_skew": timedelta(seconds=skew),
        "max_age": timedelta(days=age),
        "max_bytes": int(size),
        **changes,
    }
    return EnvelopeLimits(**fields)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise LimitsError(f"{name}={text!r} is not a number") from None
    if not value > 0:
        raise LimitsError(f"{name}={text!r} must be greater than 0")
    return value


def export_limits(max_future_skew_s: float | None, max_age_days: float | None) -> None:
    """Flags of the root command become the environment of everything it runs (the worker
    of ``serve`` included), so one place reads the bounds: ``limits_from_env``."""
    for name, value in ((FUTURE_SKEW_ENV, max_future_skew_s), (MAX_AGE_ENV, max_age_days)):
        if value is not None:
            os.environ[name] = repr(value)
