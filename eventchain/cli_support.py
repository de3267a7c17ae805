"""Wiring shared by the commands: settings → application, errors → one line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from adapters.application import EventChain
from adapters.crypto import KEK_ENV, KeyError_, store_has_kek
from adapters.store import StoreURLError, sqlite_path
from eventchain.config import Settings


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def open_app(
    ctx: click.Context, *, require_kek: bool = False, must_exist: bool = False, **kwargs: Any
) -> EventChain:
    """The application on the configured store. Refuses a wrong key-encryption key, and a
    missing one when the store holds encrypted personal data (or ``require_kek``).
    ``must_exist``: a read-only command refuses an explicitly configured SQLite file that is
    not there (a mistyped --store-url), rather than creating an empty store and reporting
    on it; the default store under --data-dir is simply empty until something is recorded."""
    settings = settings_of(ctx)
    default_url = f"sqlite:///{settings.data_dir / 'events.db'}"
    if must_exist and settings.store_url.startswith("sqlite:") and settings.store_url != default_url:
        try:
            path = sqlite_path(settings.store_url)
        except StoreURLError as error:
            raise click.UsageError(str(error)) from None
        if path != ":memory:" and not Path(path).is_file():
            raise click.ClickException(f"no event store at {path} (check --store-url or --data-dir)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if require_kek and settings.kek is None:
        raise click.ClickException(
            f"{KEK_ENV} is not set: personal data must be encrypted at rest "
            "(generate a key with `eventchain keygen`)"
        )
    try:
        app = EventChain.from_url(settings.store_url, kek=settings.kek, **kwargs)
    except StoreURLError as error:
        raise click.UsageError(str(error)) from None
    except KeyError_ as error:
        raise click.ClickException(str(error)) from None
    if settings.kek is None and store_has_kek(app.recorder):
        raise click.ClickException(f"{KEK_ENV} is not set, but this store's personal data is encrypted")
    return app


def quiet_connection_logs() -> None:
    """A command that ends with one line of outcome keeps the reconnect attempts of NATS out of
    the terminal (without a handler, Python prints each warning to stderr)."""
    for name in ("eventchain", "nats"):
        logging.getLogger(name).addHandler(logging.NullHandler())
