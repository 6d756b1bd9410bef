"""`checkpoint release`: build a signed release of the box software (docs/deploy.md, releases).

    checkpoint release build --deployment /etc/checkpoint/deployment --out releases --platform arm64

Then on central: `checkpoint central --config central.yaml release-add releases/<version>`.
On a new box, the first release is installed from the directory itself:

    checkpoint release install releases/<version> --config /etc/checkpoint/agent.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from checkpoint.cli.provision import DEFAULT_DEPLOYMENT, DeploymentOption
from common.settings import ConfigError
from contract import signing

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


@app.command()
def install(
    directory: Annotated[Path, typer.Argument(help="A release as `checkpoint release build` made it.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The box's agent.yaml (its `update` section).")],
) -> None:
    """Install a release on this box beside the others (checked against the release key) and, on a
    box with none yet, make it the current one. Later releases come through central."""
    from pydantic import ValidationError

    from agent.config import load
    from agent.update import InstallFailed, Layout
    from agent.update import install as install_release
    from common.wheelhouse import check_files
    from contract.release import MANIFEST, Manifest

    try:
        settings = load(config)
        if settings.update is None:
            raise ConfigError(f"{config} has no `update` section (central_url, release_key, root)")
        key = signing.public_key(settings.update.release_key.value().hex())
        manifest = signing.opened(key, (directory / MANIFEST).read_bytes(), Manifest,
                                  signer="the deployment's release key")
        check_files(directory, {f.name: (f.sha256, f.size) for f in manifest.files})
        layout = Layout(settings.update.root)
        install_release(layout, directory, manifest, settings.update.python)
        if not layout.current.is_symlink():
            layout.link(manifest.version)
    except (ConfigError, InstallFailed, ValueError, ValidationError, OSError) as exc:
        typer.secho(f"not installed: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.secho(f"release {manifest.version} installed in {layout.release(manifest.version)}; "
                f"{layout.current} -> {layout.linked()}", fg="green")
