"""`checkpoint` — one command line for the box, central, the deployer and the demo.

Subcommands import their heavy parts (OpenCV, SQLAlchemy, paho) only when they run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from common.settings import ConfigError

app = typer.Typer(no_args_is_help=True, help="Checkpoint scanning-and-temperature stations.")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="The YAML settings file.")]


def _run(action: Callable[[], object]) -> None:
    """Run a long-lived command; a configuration problem is one clear line and exit status 2."""
    try:
        action()
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def agent(
    config: ConfigOption = None,
    simulate: Annotated[bool, typer.Option(help="Run against simulated devices.")] = False,
) -> None:
    """Run the edge agent of one box."""
    from agent.main import main

    _run(lambda: main(config, simulate))


@app.command()
def demo(
    agents: Annotated[int, typer.Option(min=1, max=50, help="How many simulated boxes.")] = 3,
    duration: Annotated[float | None, typer.Option(min=1, help="Stop by itself after this many seconds.")] = None,
    summary_json: Annotated[Path | None, typer.Option(help="Write produced/stored/duplicates here.")] = None,
    rate: Annotated[float, typer.Option(min=1, help="Passages per minute at each box.")] = 20.0,
    direct: Annotated[bool, typer.Option(help="Simulate travellers without the device simulators (for load).")] = False,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its files (emptied first).")] = Path("var/demo"),
) -> None:
    """Run the whole flow on this machine: broker, central, N simulated boxes."""
    from checkpoint import demo as demo_module
    from checkpoint.broker import BrokerError

    try:
        code = demo_module.run(workdir, agents, duration, summary_json, rate, "direct" if direct else "devices")
    except BrokerError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def schema(out: Annotated[Path, typer.Option(help="Directory for the JSON Schema files.")]) -> None:
    """Write a JSON Schema of every contract v1 message."""
    from pydantic import BaseModel

    from contract.messages import DOWNLINK_MODELS, UPLINK_MODELS, Receipt

    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, type[BaseModel]] = {**UPLINK_MODELS, **DOWNLINK_MODELS, "receipt": Receipt}
    for name, model in models.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n")
        typer.echo(path)


# Central: `checkpoint central --config FILE` runs it; its subcommands administer it (central/cli.py).
from central import cli as central_cli  # noqa: E402

app.add_typer(central_cli.app, name="central")

# Device field tools, one sub-app per driver (each module is light; heavy imports live in commands).
# [driver sub-apps: each driver adds its own line here]
from agent.healthcode import cli as healthcode_cli  # noqa: E402  (camera: making codes)
from drivers.camera import cli as camera_cli  # noqa: E402  (camera)

camera_cli.app.command()(healthcode_cli.keygen)  # making test codes belongs to the health code, not the camera
camera_cli.app.command()(healthcode_cli.make)
app.add_typer(camera_cli.app, name="qr")

from drivers.thermo import cli as thermo_cli  # noqa: E402  (thermo)

app.add_typer(thermo_cli.app, name="thermo")

from drivers.idcard import cli as idcard_cli  # noqa: E402  (idcard)

app.add_typer(idcard_cli.app, name="idcard")

from checkpoint.provision import cli as provision_cli  # noqa: E402  (deploy)

app.add_typer(provision_cli.app, name="provision")

from checkpoint.doctor import cli as doctor_cli  # noqa: E402  (deploy)

app.command("doctor")(doctor_cli.doctor)
