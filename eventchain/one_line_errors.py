"""User mistakes as one line on stderr and a non-zero exit (SPEC §2.3): click's default
prints the usage block and a hint around the message; operators asked for one line.

Errors are caught where click raises them (parsing the group's options, then invoking
the subcommand) and re-raised as ``OneLineError``, so click's own standalone handling
(exit codes, Ctrl-C, broken pipes) stays as it is."""

from __future__ import annotations

from typing import IO, Any

import click


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


def one_line(error: click.ClickException) -> str:
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and context is not None:
        return f"{context.command_path}: {message} (see {context.command_path} --help)"
    return f"error: {message}"
