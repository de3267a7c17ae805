"""The ``eventchain`` command. Each module in ``eventchain.commands`` contributes its
commands through ``register(group)``; this module only assembles them and turns user
mistakes into one clear line and a non-zero exit (never a traceback)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Any

import click

import eventchain.commands
from adapters.crypto import KeyError_
from adapters.limits import FUTURE_SKEW_ENV, MAX_AGE_ENV, export_limits
from eventchain.cli_support import apply_private_umask
from eventchain.config import Settings
from eventchain.one_line_errors import OneLineErrorGroup


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    envvar="EVENTCHAIN_DATA_DIR",
    help="Where the default store, views and snapshots live [./data].",
)
@click.option(
    "--store-url", envvar="EVENTCHAIN_STORE_URL", help="sqlite:///path or postgresql://user@host:port/db."
)
@click.option(
    "--nats-url", envvar="EVENTCHAIN_NATS_URL", help="nats://host:port; unset: start a local nats-server."
)
@click.option("--views-path", envvar="EVENTCHAIN_VIEWS_PATH", help="The projector's working DuckDB file.")
@click.option(
    "--snapshot-path",
    envvar="EVENTCHAIN_SNAPSHOT_PATH",
    help="The published read-only DuckDB copy for analysts.",
)
@click.option(
    "--max-future-skew-s",
    envvar=FUTURE_SKEW_ENV,
    type=click.FloatRange(min=0, min_open=True),
    help="Reject touchpoints dated more than this many seconds after they were received [300].",
)
@click.option(
    "--max-age-days",
    envvar=MAX_AGE_ENV,
    type=click.FloatRange(min=0, min_open=True),
    help="Reject touchpoints dated more than this many days before they were received [3653].",
)
@click.option(
    "--web-addr", envvar="EVENTCHAIN_WEB_ADDR", help="host:port of the web workspace [127.0.0.1:8710]."
)
@click.pass_context
def main(
    ctx: click.Context, /, max_future_skew_s: float | None, max_age_days: float | None, **options: Any
) -> None:
    """eventchain: every customer touchpoint as an immutable event.

    \b
    Example:
      eventchain demo
      eventchain --store-url postgresql://me@localhost/eventchain ingest touchpoints.jsonl
    """
    previous = apply_private_umask(os.environ)
    ctx.call_on_close(lambda: os.umask(previous))  # in-process runners (tests) get theirs back
    export_limits(max_future_skew_s, max_age_days)
    try:
        ctx.obj = Settings.load(**options)
    except KeyError_ as error:  # a malformed EVENTCHAIN_KEK
        raise click.ClickException(str(error)) from None


for module_info in sorted(pkgutil.iter_modules(eventchain.commands.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"eventchain.commands.{module_info.name}")
    if hasattr(module, "register"):  # helper modules (e.g. demo output) have no commands
        module.register(main)


def run() -> None:  # pragma: no cover - console entry point
    main(prog_name="eventchain")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
