"""``eventchain import FILE``: bulk customer import with a cleaning report (SPEC §6)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from application.importer import ImportFileError, import_file, write_rejects
from domain.cleaning import FIELDS
from eventchain.cli_support import open_app
from eventchain.console import progress

EXIT_SOME_REJECTED = 1


def _mapping(values: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for value in values:
        header, sep, target = value.partition("=")
        if not sep or target not in FIELDS:
            raise click.BadParameter(
                f"{value!r}: expected HEADER=FIELD with FIELD one of {', '.join(FIELDS)}",
                param_hint="'--map'",
            )
        result[header] = target
    return result


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="HEADER=FIELD",
    help="Map a column to a field (name, phone, email, company, city, industry, uscc, owner).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write rejected rows (default: FILE.rejects.csv next to the file).",
)
@click.option("--batch-id", help="Name of this import batch (default: derived from the file's content).")
@click.pass_context
def import_command(
    ctx: click.Context, file: Path, maps: tuple[str, ...], rejects: Path | None, batch_id: str | None
) -> None:
    """Import customers from XLSX or CSV (UTF-8, UTF-8 with BOM, GBK/GB18030).

    Cleans every cell (BOM, invisible and bidi characters, full-width digits), rejects
    formula residue and XLSX formula cells (cached value or not), invalid
    phones/emails/USCCs and company names under 3 characters, and writes every
    rejected row with its column and reason to a rejects file.
    Common Chinese headers are recognised (姓名 手机 邮箱 公司 城市 行业 统一社会信用代码
    负责人). Merged cells and the encoding read are reported as notes on stderr. Importing
    the same file again records nothing new. Exit 1 if rows were rejected.

    \b
    Example:
      eventchain import 客户名单.xlsx
      eventchain import leads.csv --map 联系方式=phone --rejects bad.csv
    """
    overrides = _mapping(maps)
    app = open_app(ctx)
    with progress("import", total=None) as advance:
        try:
            summary = import_file(
                app,
                file,
                overrides=overrides,
                occurred_at=app.clock(),
                batch_id=batch_id,
                progress=advance,
            )
        except ImportFileError as error:
            raise click.ClickException(str(error)) from None
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    target = rejects or file.with_name(file.name + ".rejects.csv")
    if summary.rejected_rows:
        write_rejects(target, summary)
    again = " (this batch was imported before)" if summary.already_imported else ""
    click.echo(
        f"batch {summary.batch_id}{again}: {summary.rows_read} rows read = {summary.accepted} accepted "
        f"+ {summary.rejected_rows} rejected; {summary.recorded} new touchpoints; "
        f"{summary.abnormal_rows} rows cleaned of invisible/full-width characters"
    )
    if summary.rejected_rows:
        click.echo(f"rejected rows with reasons: {target}", err=True)
        sys.exit(EXIT_SOME_REJECTED)


def register(group: click.Group) -> None:
    group.add_command(import_command)
