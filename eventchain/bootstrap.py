"""The composition root: the one place that builds the application from the settings.

Every entry point calls ``build_application``: the CLI's commands (through
``cli_support.open_app``, which turns the errors below into one line and an exit code),
``serve`` (each follower and the projector get their own instance: one store connection
each), the web workspace and the ingest worker. So the store URL, the key-encryption key
and its checks are applied the same way everywhere, and no process forgets the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from adapters.crypto import KEK_ENV, KeyError_, store_has_kek
from adapters.store import StoreURLError
from application.event_chain import EventChain
from eventchain.config import Settings

# Test hook: the service's clock read from this file (an ISO instant; empty or missing: the real
# time), so end-to-end tests move "now" for a running serve — deadlines, plan steps — without
# waiting. Like EVENTCHAIN_TEST_CRASH_AFTER_PUBLISH, it is for tests only; never set it in service.
TEST_CLOCK_ENV: Final = "EVENTCHAIN_TEST_CLOCK_FILE"


def file_clock(path: Path) -> Callable[[], datetime]:
    def now() -> datetime:
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        return datetime.fromisoformat(text) if text else datetime.now(UTC)

    return now


class BootstrapError(RuntimeError):
    """The application cannot be built from these settings; the message says what to do."""


class StoreSettingsError(BootstrapError):
    """The store URL itself is malformed (a usage error of the caller)."""


def build_application(settings: Settings, *, require_kek: bool = False, **kwargs: Any) -> EventChain:
    """The application on the configured store. Refuses a wrong key-encryption key, and a
    missing one when the store holds encrypted personal data (or ``require_kek``)."""
    if require_kek and settings.kek is None:
        raise BootstrapError(
            f"{KEK_ENV} is not set: personal data must be encrypted at rest "
            "(generate a key with `eventchain keygen`)"
        )
    clock_file = os.environ.get(TEST_CLOCK_ENV)
    if clock_file and "clock" not in kwargs:
        kwargs["clock"] = file_clock(Path(clock_file))
    try:
        app = EventChain.from_settings(settings, **kwargs)
    except StoreURLError as error:
        raise StoreSettingsError(str(error)) from None
    except KeyError_ as error:
        raise BootstrapError(f"{error}: {which_key(settings)}") from None
    if settings.kek is None and store_has_kek(app.recorder):
        raise BootstrapError(
            f"{KEK_ENV} is not set, but this store's personal data is encrypted: {which_key(settings)}"
        )
    return app


def which_key(settings: Settings) -> str:
    """What to do about a missing or wrong key, in the words of the store at hand."""
    demo_key = Path(settings.data_dir) / "demo.kek"
    if demo_key.is_file():
        return (
            f"this store was made by `eventchain demo`, whose key is in {demo_key}: "
            f"export {KEK_ENV}=$(cat {demo_key})"
        )
    return (
        f"set {KEK_ENV} to the key this store was created with (from your secret store); "
        "without it the personal data cannot be read, and a new key fits only a new store"
    )
