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

ENVIRONMENT_HELP = """\b
Environment (each flag above also reads its variable):
  EVENTCHAIN_DATA_DIR, EVENTCHAIN_STORE_URL, EVENTCHAIN_NATS_URL,
  EVENTCHAIN_VIEWS_PATH, EVENTCHAIN_SNAPSHOT_PATH, EVENTCHAIN_WEB_ADDR,
  EVENTCHAIN_MAX_FUTURE_SKEW_S, EVENTCHAIN_MAX_AGE_DAYS   as the flags
  EVENTCHAIN_KEK            key-encryption key (secret: environment only)
  EVENTCHAIN_METRICS_ADDR   serve's /metrics, /healthz, /readyz [127.0.0.1:9464]
  EVENTCHAIN_TIMEZONE       time zone instants are printed in [Asia/Shanghai]
  EVENTCHAIN_DUPLICATE_WINDOW_S, EVENTCHAIN_MAX_ENVELOPE_BYTES,
  EVENTCHAIN_PUBLISH_TIMEOUT_S, EVENTCHAIN_UMASK, EVENTCHAIN_READ_ALERT_*
  NO_COLOR                  no colours in tables
\b
Global options may come after the command too: eventchain status --data-dir data.
Shell completion: eval "$(_EVENTCHAIN_COMPLETE=bash_source eventchain)" (zsh_source, fish_source).
"""


@click.group(
    cls=OneLineErrorGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": False},
    epilog=ENVIRONMENT_HELP,
)
@click.version_option(package_name="eventchain", prog_name="eventchain", message="%(prog)s %(version)s")
@click.option(
    "--data-dir",
    envvar="EVENTCHAIN_DATA_DIR",
    show_envvar=True,
    help="Where the default store, views and snapshots live [./data].",
)
@click.option(
    "--store-url",
    envvar="EVENTCHAIN_STORE_URL",
    show_envvar=True,
    help="sqlite:///path or postgresql://user@host:port/db.",
)
@click.option(
    "--nats-url",
    envvar="EVENTCHAIN_NATS_URL",
    show_envvar=True,
    help="nats://host:port; unset: start a local nats-server.",
)
@click.option(
    "--views-path",
    envvar="EVENTCHAIN_VIEWS_PATH",
    show_envvar=True,
    help="The projector's working DuckDB file.",
)
@click.option(
    "--snapshot-path",
    envvar="EVENTCHAIN_SNAPSHOT_PATH",
    show_envvar=True,
    help="The published read-only DuckDB copy for analysts.",
)
@click.option(
    "--max-future-skew-s",
    envvar=FUTURE_SKEW_ENV,
    show_envvar=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Reject touchpoints dated more than this many seconds after they were received [300].",
)
@click.option(
    "--max-age-days",
    envvar=MAX_AGE_ENV,
    show_envvar=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Reject touchpoints dated more than this many days before they were received [3653].",
)
@click.option(
    "--web-addr",
    envvar="EVENTCHAIN_WEB_ADDR",
    show_envvar=True,
    help="host:port of the web workspace [127.0.0.1:8710].",
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
    if ctx.invoked_subcommand is None:  # `eventchain --data-dir d` alone: the whole help, as bare
        click.echo(ctx.get_help())
        ctx.exit(2)
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
