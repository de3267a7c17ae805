"""Wiring shared by the commands: settings → application, errors → one line."""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from adapters.sessions import SessionTable
from adapters.store import StoreURLError, sqlite_path
from application.event_chain import EventChain
from application.read_audit import (
    ReadAlertCheck,
    act_on_alert,
    alert_policy_in_force,
    publish_alert,
    record_read,
)
from eventchain.bootstrap import BootstrapError, StoreSettingsError, build_application
from eventchain.config import Settings
from eventchain.nats_support import running_local_url
from projections.visibility import Role


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
    try:
        return build_application(settings, require_kek=require_kek, **kwargs)
    except StoreSettingsError as error:
        raise click.UsageError(str(error)) from None
    except BootstrapError as error:
        raise click.ClickException(str(error)) from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME: still a recorded operator
        return "operator"


# `--actor`: who runs the command, recorded by the read audit and erasures (the OS user).
operator_option = click.option(
    "--actor", default=_os_user, show_default="the OS user", help="Who runs this (recorded)."
)


def audit_read(
    ctx: click.Context, app: EventChain, *, role: Role, action: str, subject: str, rows: int
) -> None:
    """Records a read of personal data (who, when, role, what, how many) in the store, and
    raises the configured alert (count per window, off-hours) on the notification subjects."""
    actor = str(ctx.params.get("actor") or _os_user())
    try:
        policy = alert_policy_in_force(app, os.environ)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    record_read(app, actor=actor, role=str(role), action=action, subject=subject, rows=rows)
    table = SessionTable(app.recorder)
    for entry, reasons in ReadAlertCheck(app, table, policy).check():
        frozen = act_on_alert(app, table, policy, entry, reasons)
        click.echo(
            f"read alert for {entry.actor}: {'; '.join(reasons)}"
            + ("; sign-ins held until a director releases them" if frozen else ""),
            err=True,
        )
        settings = settings_of(ctx)
        url = settings.nats_url or running_local_url(settings.data_dir / "nats")
        if url is None:
            click.echo("read alert not published: no NATS configured or running", err=True)
            continue
        try:
            publish_alert(url, entry, reasons, frozen)
        except Exception as error:  # the read is recorded; a NATS outage must not hide it
            click.echo(f"read alert not published ({type(error).__name__}: {error})", err=True)


UMASK_ENV = "EVENTCHAIN_UMASK"


def apply_private_umask(environ: Mapping[str, str]) -> int:
    """Files the commands create (store, views, snapshot, reports, exports, NATS store) are
    private to the operator, 0600 files / 0700 directories, unless EVENTCHAIN_UMASK says
    otherwise (e.g. 027 to let an analysts' group read the snapshot). Returns the previous
    umask, for callers that run the CLI inside a longer-lived process."""
    text = environ.get(UMASK_ENV, "077").strip()
    try:
        mask = int(text, 8)
    except ValueError:
        raise click.UsageError(f"{UMASK_ENV}={text!r} is not an octal umask such as 077 or 027") from None
    if not 0 <= mask <= 0o777:
        raise click.UsageError(f"{UMASK_ENV}={text!r} is not an octal umask such as 077 or 027")
    return os.umask(mask)


def quiet_connection_logs() -> None:
    """A command that ends with one line of outcome keeps the reconnect attempts of NATS out of
    the terminal (without a handler, Python prints each warning to stderr)."""
    for name in ("eventchain", "nats"):
        logging.getLogger(name).addHandler(logging.NullHandler())
