"""``eventchain erase`` and ``eventchain keygen``: personal-data erasure (SPEC §7)."""

from __future__ import annotations

import click

from adapters.application import CustomerNotFoundError
from adapters.crypto import new_kek
from adapters.erasure import ErasureError, erase, purge_dead_letters
from adapters.nats_ingest import NatsNames
from eventchain.cli_support import open_app, settings_of
from eventchain.nats_support import running_local_url


@click.command("erase")
@click.argument("customer")
@click.option("--reason", required=True, help="The request being honoured, e.g. 'PIPL Art. 47 request #12'.")
@click.option("--actor", default="operator", show_default=True, help="Who erases.")
@click.pass_context
def erase_command(ctx: click.Context, customer: str, reason: str, actor: str) -> None:
    """Erase a customer's personal data (and of every customer merged into it).

    Destroys their data keys, so names, phones, emails and texts in the stored events can
    never be read again; releases their identities (a new touchpoint from the same phone
    starts a new customer); appends PersonalDataErased; purges matching dead letters.
    Views show the customer as erased after the projector's next pass.

    \b
    Example:
      eventchain erase phone:13800138000 --reason "PIPL request 2026-118" --actor dpo-li
    """
    settings = settings_of(ctx)
    app = open_app(ctx, require_kek=True)
    try:
        result, values = erase(app, customer, reason, actor)
    except (CustomerNotFoundError, ErasureError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    url = settings.nats_url or running_local_url(settings.data_dir / "nats")
    purged = 0
    if url:
        try:
            purged = purge_dead_letters(url, NatsNames().dlq_stream, values)
        except Exception as error:  # NATS down: say so, the store erasure stands
            click.echo(
                f"warning: dead letters not purged ({error}); run erase again when NATS is up", err=True
            )
    click.echo(
        f"erased {len(result.erased_ids)} customer(s) ({result.customer_id}); "
        f"{result.identities_released} identities released; {purged} dead letters purged"
    )


@click.command("keygen")
def keygen_command() -> None:
    """Print a new key-encryption key for EVENTCHAIN_KEK (keep it in your secret store).

    \b
    Example:
      export EVENTCHAIN_KEK=$(eventchain keygen)
    """
    click.echo(new_kek())


def register(group: click.Group) -> None:
    group.add_command(erase_command)
    group.add_command(keygen_command)
