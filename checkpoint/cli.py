"""`checkpoint` — one command line for the box, central, the deployer and the demo.

Subcommands import their heavy parts (OpenCV, SQLAlchemy, paho) only when they run.
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Checkpoint scanning-and-temperature stations.")

# Device field tools, one sub-app per driver (each module is light; heavy imports live in commands).
# [driver sub-apps: each driver adds its own line here]
