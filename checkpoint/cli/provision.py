"""`checkpoint provision`: the deployer's commands. Light at import; the work is in `actions`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from common.settings import ConfigError
from contract.messages import CheckpointKind

if TYPE_CHECKING:
    from checkpoint.provision.actions import Outcome

app = typer.Typer(
    invoke_without_command=True,
    help="Provision a box (keys, broker account, central's registry, the bundle to install), or revoke one.",
)

DeploymentOption = Annotated[
    Path,
    typer.Option(
        "--deployment",
        "-d",
        envvar="CHECKPOINT_DEPLOYMENT",
        help="The deployment directory (CA, broker files, records of every box).",
    ),
]
DEFAULT_DEPLOYMENT = Path("/etc/checkpoint/deployment")


@app.callback()
def provision(
    ctx: typer.Context,
    deployment: DeploymentOption = DEFAULT_DEPLOYMENT,
    device: Annotated[str | None, typer.Option(help="The box id, e.g. g15-exit-3-a.")] = None,
    site: Annotated[str | None, typer.Option(help="The checkpoint's site id.")] = None,
    kind: Annotated[CheckpointKind, typer.Option(help="The kind of checkpoint.")] = CheckpointKind.TRAFFIC,
    login: Annotated[str, typer.Option(help="Broker login: password or certificate.")] = "password",
    thermo_protocol: Annotated[
        str, typer.Option(help="The thermometer's protocol (gy-mcu, aa-a5, modbus, ascii; `checkpoint doctor` tells).")
    ] = "gy-mcu",
    rotate: Annotated[bool, typer.Option(help="Issue new keys and credentials (the old ones stop working).")] = False,
) -> None:
    """Provision one box: `checkpoint provision --device BOX --site SITE [--kind ...] [--login ...]`."""
    ctx.obj = deployment
    if ctx.invoked_subcommand is not None:
        return
    if device is None or site is None:
        typer.echo(ctx.get_help())
        _fail("give --device and --site (or a command: init, revoke, list)")
    from checkpoint.provision import actions
    from checkpoint.provision.deployment import Deployment, Login

    if login not in {m.value for m in Login}:
        _fail(f"--login must be password or certificate, not {login!r}")
    box = Deployment(deployment)
    _report(lambda: actions.provision(box, device, site, kind, Login(login), thermo_protocol=thermo_protocol,
                                      rotate=rotate))


@app.command()
def init(
    ctx: typer.Context,
    broker_host: Annotated[str, typer.Option(help="The name or address boxes reach the broker by.")],
    central_db: Annotated[str, typer.Option(help="Central's database URL (sqlite:///... or postgresql://...).")],
    broker_port: Annotated[int, typer.Option(help="TLS port for password logins.")] = 8883,
    cert_port: Annotated[int, typer.Option(help="TLS port for client-certificate logins.")] = 8884,
    broker_reload: Annotated[
        str, typer.Option(help="Command that makes the broker reread its files ('' for none).")
    ] = "systemctl reload mosquitto",
    broker_data_dir: Annotated[Path, typer.Option(help="The broker's persistence directory.")] = Path(
        "/var/lib/mosquitto"
    ),
    broker_log_file: Annotated[Path, typer.Option(help="The broker's log file.")] = Path(
        "/var/log/mosquitto/mosquitto.log"
    ),
    box_install_dir: Annotated[Path, typer.Option(help="Where a box unpacks its bundle.")] = Path("/etc/checkpoint"),
    box_data_dir: Annotated[Path, typer.Option(help="Where a box keeps its outbox.")] = Path("/var/lib/checkpoint"),
    dashboard_url: Annotated[
        str, typer.Option(help="How the office reaches the dashboard, e.g. https://center.example (secure cookies).")
    ] = "",
) -> None:
    """Create the deployment (CA, broker configuration and files, central's account); safe to re-run."""
    from checkpoint.provision import actions
    from checkpoint.provision.deployment import BrokerSettings, Deployment, DeploymentSettings

    settings = DeploymentSettings(
        broker=BrokerSettings(
            host=broker_host,
            port=broker_port,
            cert_port=cert_port,
            reload=broker_reload.split(),
            data_dir=broker_data_dir,
            log_file=broker_log_file,
        ),
        central_database_url=central_db,
        box_install_dir=box_install_dir,
        box_data_dir=box_data_dir,
        dashboard_url=dashboard_url,
    )
    _report(lambda: actions.init(Deployment(ctx.obj), settings))


@app.command()
def revoke(ctx: typer.Context, device: Annotated[str, typer.Argument(help="The box id.")]) -> None:
    """Revoke a box: central refuses its verdicts, the broker refuses its login."""
    from checkpoint.provision import actions
    from checkpoint.provision.deployment import Deployment

    _report(lambda: actions.revoke(Deployment(ctx.obj), device))


@app.command("list")
def list_boxes(ctx: typer.Context) -> None:
    """Every box of the deployment."""
    from checkpoint.provision.deployment import Deployment

    try:
        registry = Deployment(ctx.obj).registry()
    except ConfigError as exc:
        _fail(str(exc))
    table = Table("box", "site", "kind", "login", "state")
    for device, box in sorted(registry.boxes.items()):
        table.add_row(device, box.site, box.kind.value, box.login.value, "revoked" if box.revoked else "active")
    Console().print(table)


def _report(action: Callable[[], Outcome]) -> None:
    try:
        outcome = action()
    except ConfigError as exc:
        _fail(str(exc))
    typer.secho(outcome.summary, fg="green")
    if outcome.bundle is not None:
        typer.echo(f"bundle: {outcome.bundle}  (and the directory {str(outcome.bundle)[: -len('.tar.gz')]})")
    if outcome.reload_error is not None:
        typer.secho(
            f"the broker has NOT taken this change yet: {outcome.reload_error}. "
            "Reload it (systemctl reload mosquitto) on the broker's machine.",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(2)
