"""User mistakes as one line on stderr and a non-zero exit (SPEC §2.3): click's default
prints the usage block and a hint around the message; operators asked for one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click


class OneLineErrorGroup(click.Group):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            _exit_with(one_line(error), error.exit_code)
        except click.Abort:
            _exit_with("Aborted.", 1)
        # click returns the exit code of ctx.exit(n); a command that just returns exits 0.
        sys.exit(result if isinstance(result, int) else 0)


def one_line(error: click.ClickException) -> str:
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and context is not None:
        return f"{context.command_path}: {message} (see {context.command_path} --help)"
    return f"error: {message}"


def _exit_with(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
