"""`checkpoint release`: build a signed release of the box software (docs/deploy.md, releases).

    checkpoint release build --deployment /etc/checkpoint/deployment --out releases --platform arm64

Then on central: `checkpoint central --config central.yaml release-add releases/<version>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from checkpoint.cli.provision import DEFAULT_DEPLOYMENT, DeploymentOption
from common.settings import ConfigError

app = typer.Typer(help="Releases of the box software: a signed wheelhouse per platform.", no_args_is_help=True)
PLATFORMS = {"arm64": "aarch64", "aarch64": "aarch64", "x86_64": "x86_64", "amd64": "x86_64"}


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="Where the release goes (as <out>/<version>/).")],
    deployment: DeploymentOption = DEFAULT_DEPLOYMENT,
    source: Annotated[Path, typer.Option(help="The project's source tree.")] = Path("."),
    platform: Annotated[str, typer.Option(help="The boxes' platform: arm64 (Raspberry Pi) or x86_64.")] = "arm64",
    python: Annotated[str, typer.Option(help="The boxes' Python, major.minor.")] = "3.11",
) -> None:
    """The project's wheel and every wheel it needs for the platform, and a manifest of their hashes
    signed with the deployment's release key."""
    from checkpoint.provision.deployment import Deployment
    from checkpoint.release.build import build as build_release
    from contract import signing

    if platform not in PLATFORMS:
        typer.secho(f"--platform is one of {', '.join(PLATFORMS)}", fg="red", err=True)
        raise typer.Exit(2)
    key_file = Deployment(deployment).release_key
    try:
        key = signing.private_key(key_file.read_text())
        made = build_release(source, out, PLATFORMS[platform], key, python)  # type: ignore[arg-type]
    except OSError as exc:
        typer.secho(f"{key_file}: {exc.strerror} (run `checkpoint provision init` first)", fg="red", err=True)
        raise typer.Exit(2) from None
    except ConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.secho(f"release in {made}", fg="green")
