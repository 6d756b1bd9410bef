"""`checkpoint` — one command line for the box, central, the deployer and the demo.

The top layer: every command lives in this package (central.py, idcard.py, thermo.py, qr.py,
codes.py, provision.py, doctor.py beside this file), and no part of the project imports it.
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
    from agent.app import main

    _run(lambda: main(config, simulate))


@app.command()
def supervise(
    config: Annotated[Path, typer.Option("--config", "-c", help="The box's agent.yaml (with its `update` section).")],
    simulate: Annotated[bool, typer.Option(help="Run the agent against simulated devices.")] = False,
) -> None:
    """Run the agent of the current release, switch to a new one when the agent asks, and roll back
    a release that is not healthy in time (docs/deploy.md, releases)."""
    from agent.supervisor import main

    _run(lambda: main(config, ["--simulate"] if simulate else []))


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

    from contract.messages import DOWNLINK_MODELS, UPLINK_MODELS, DiagnosticsRequest, Receipt

    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, type[BaseModel]] = {**UPLINK_MODELS, **DOWNLINK_MODELS, "receipt": Receipt,
                                          "diagnostics_request": DiagnosticsRequest}
    for name, model in models.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n")
        typer.echo(path)


# The parts' own commands, one module each beside this one (each light; heavy imports inside commands).
from checkpoint.cli import central, codes, doctor, idcard, provision, qr, release, thermo  # noqa: E402

app.add_typer(central.app, name="central")  # `checkpoint central --config FILE` runs central
qr.app.command()(codes.keygen)  # making test codes belongs to the health code, not the camera
qr.app.command()(codes.make)
app.add_typer(qr.app, name="qr")
app.add_typer(thermo.app, name="thermo")
app.add_typer(idcard.app, name="idcard")
app.add_typer(provision.app, name="provision")
app.add_typer(release.app, name="release")
app.command("doctor")(doctor.doctor)
