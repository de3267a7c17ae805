"""User mistakes as one line on stderr and a non-zero exit (SPEC §2.3): click's default
prints the usage block and a hint around the message; operators asked for one line.

Errors are caught where click raises them (parsing the group's options, then invoking
the subcommand) and re-raised as ``OneLineError``, so click's own standalone handling
(exit codes, Ctrl-C, broken pipes) stays as it is."""

from __future__ import annotations

import os
import tomllib
from typing import IO, Any

import click
import msgspec
import psycopg
from eventsourcing.persistence import PersistenceError
from nats.errors import Error as NatsError

# Errors of the world outside the code (servers away, files unreadable, input malformed):
# a user's situation, told in one line, never a traceback. A bug still shows its traceback.
ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (
    PersistenceError,
    psycopg.Error,
    NatsError,
    ConnectionError,
    TimeoutError,
    OSError,
    msgspec.DecodeError,
    msgspec.ValidationError,
    tomllib.TOMLDecodeError,
    UnicodeDecodeError,
)


class OneLineError(click.ClickException):
    def __init__(self, original: click.ClickException) -> None:
        super().__init__(one_line(original))
        self.exit_code = original.exit_code  # type: ignore[misc]  # click types it ClassVar; usage errors are 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.message, err=True, file=file)


class OneLineErrorGroup(click.Group):
    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except OneLineError:
            raise
        except click.ClickException as error:
            raise OneLineError(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OneLineError:
            raise
        except click.ClickException as error:
            raise OneLineError(error) from None
        except ENVIRONMENT_ERRORS as error:
            raise OneLineError(click.ClickException(describe(error))) from None
        except ValueError as error:  # the project's own input errors (rules, limits, files) are ValueErrors
            if type(error).__module__.split(".")[0] not in {"adapters", "domain", "eventchain"}:
                raise
            raise OneLineError(click.ClickException(describe(error))) from None


def one_line(error: click.ClickException) -> str:
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and context is not None:
        return f"{context.command_path}: {message} (see {context.command_path} --help)"
    return f"error: {message}"


def describe(error: BaseException) -> str:
    """One line: the error's kind and the first line of its message."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(error, OSError) and error.filename is not None and not message:
        message = os.fsdecode(error.filename)
    kind = type(error).__name__
    return f"{kind}: {message}" if message else kind
