"""``hyperviseur audit …`` commands. To be completed."""

from __future__ import annotations

import typer

audit_app = typer.Typer(help="The tamper-evident audit trail.")
