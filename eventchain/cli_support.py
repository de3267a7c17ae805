"""Wiring shared by the commands: settings → application, errors → one line."""

from __future__ import annotations

from typing import Any

import click

from adapters.application import EventChain
from adapters.store import StoreURLError
from eventchain.config import Settings


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def open_app(ctx: click.Context, **kwargs: Any) -> EventChain:
    settings = settings_of(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return EventChain.from_url(settings.store_url, **kwargs)
    except StoreURLError as error:
        raise click.UsageError(str(error)) from None
