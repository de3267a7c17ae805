"""Wiring shared by the commands: settings → application, errors → one line."""

from __future__ import annotations

from typing import Any

import click

from adapters.application import EventChain
from adapters.crypto import KEK_ENV, KeyError_, store_has_kek
from adapters.store import StoreURLError
from eventchain.config import Settings


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def open_app(ctx: click.Context, *, require_kek: bool = False, **kwargs: Any) -> EventChain:
    """The application on the configured store. Refuses a wrong key-encryption key, and a
    missing one when the store holds encrypted personal data (or ``require_kek``)."""
    settings = settings_of(ctx)
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
