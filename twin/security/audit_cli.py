"""``hyperviseur audit …`` commands: verify the hash chain, export entries for an inspection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _url() -> str:
    from twin.db import database_url
    from twin.settings import Settings

    return database_url(Settings().database)


@audit_app.command("verify")
def verify_command(
    anchor: Annotated[
        Path | None, typer.Option(help="Anchor saved earlier: its entry must still be there, unchanged")
    ] = None,
    save_anchor: Annotated[
        Path | None, typer.Option(help="Write the current head (id and hash) to this file, to keep elsewhere")
    ] = None,
) -> None:
    """Check every entry's hash and link; exit 0 when intact, 1 listing each problem."""
    from twin.errors import InvalidInput
    from twin.security.audit import Anchor, verify_chain

    saved = None
    if anchor is not None:
        try:
            saved = Anchor.from_json(anchor.read_text())
        except OSError as exc:
            raise InvalidInput(f"cannot read the anchor {anchor}: {exc.strerror}") from None
    result = verify_chain(_url(), anchor=saved)
    head = f"entry {result.head.id}, hash {result.head.hash}" if result.head else "none (empty trail)"
    typer.echo(f"{result.checked} entries checked; head: {head}")
    if save_anchor is not None and result.head is not None:
        save_anchor.write_text(result.head.to_json() + "\n")
        typer.echo(f"anchor saved to {save_anchor}: keep a copy outside this server")
    if result.ok:
        typer.echo("audit trail intact")
        return
    for problem in result.problems:
        typer.secho(f"{problem.kind}: {problem.message}", err=True, fg=typer.colors.RED)
    typer.secho(f"{len(result.problems)} problem(s) found", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@audit_app.command("export")
def export_command(
    start: Annotated[str, typer.Option("--from", help="ISO date or date-time (naive = UTC), inclusive")],
    end: Annotated[str, typer.Option("--to", help="ISO date (whole day included) or date-time, exclusive")],
    output: Annotated[Path | None, typer.Option(help="File to write; default standard output")] = None,
) -> None:
    """Write the entries of a period as JSON lines, in chain order (hashes included, to re-check)."""
    import getpass

    from twin.security.audit import export, parse_instant

    lines = export(
        _url(),
        parse_instant(start),
        parse_instant(end, end=True),
        actor=f"cli:{getpass.getuser()}",
    )
    if output is None:
        for line in lines:
            typer.echo(line)
        return
    count = 0
    with output.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
            count += 1
    typer.echo(f"{count} entries written to {output}", err=True)
