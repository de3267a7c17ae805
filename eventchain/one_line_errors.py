"""User mistakes as one line on stderr and a non-zero exit (SPEC §2.3): click's default
prints the usage block and a hint around the message; operators asked for one line.

Errors are caught where click raises them (parsing the group's options, then invoking
the subcommand) and re-raised as ``OneLineError``, so click's own standalone handling
(exit codes, Ctrl-C, broken pipes) stays as it is."""

from __future__ import annotations

import os
import sys
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
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Global options are accepted after the subcommand too (``eventchain status
        --data-dir data``): they are moved in front of it before parsing."""
        if ctx.parent is None:
            args = _globals_first(self, args)
        return super().parse_args(ctx, args)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except (OneLineError, click.exceptions.NoArgsIsHelpError):
            raise  # a bare group prints its whole help, as it is
        except click.ClickException as error:
            raise OneLineError(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OneLineError, click.exceptions.NoArgsIsHelpError):
            raise
        except click.ClickException as error:
            raise OneLineError(error) from None
        except BrokenPipeError:
            # The reader went away (`eventchain … | head`): stop quietly and successfully, as
            # other Unix tools do; what is left to print goes nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(0) from None
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


def _globals_first(group: click.Group, args: list[str]) -> list[str]:
    """``args`` with the group's own options (and their values) moved before the first
    subcommand name; ``--`` ends the search, and an option the subcommand defines itself stays."""
    takes_value = {
        name: not (option.is_flag or option.count)
        for option in group.params
        if isinstance(option, click.Option)
        for name in option.opts
    }
    leading: list[str] = []
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        name = args[index].split("=", 1)[0]
        step = 2 if takes_value.get(name) and "=" not in args[index] else 1
        leading += args[index : index + step]
        index += step
    if index >= len(args) or args[index] == "--":
        return args
    moved: list[str] = []
    rest: list[str] = []
    position = index
    own = _subcommand_options(group, args[index:])
    while position < len(args):
        word = args[position]
        if word == "--":
            rest += args[position:]
            break
        name = word.split("=", 1)[0]
        if name in takes_value and name not in own and name not in ("-h", "--help"):
            step = 2 if takes_value[name] and "=" not in word else 1
            moved += args[position : position + step]
            position += step
            continue
        rest.append(word)
        position += 1
    return [*leading, *moved, *rest]


def _subcommand_options(group: click.Group, words: list[str]) -> set[str]:
    """The option names of the subcommand (and nested subcommands) the words name."""
    names: set[str] = set()
    command: click.Command | None = group
    for word in words:
        if not isinstance(command, click.Group):
            break
        command = command.commands.get(word)
        if command is None:
            break
        names |= {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts}
    return names
