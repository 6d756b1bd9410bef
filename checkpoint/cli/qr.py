"""`checkpoint qr …` — field tools for the health-code camera: decode images, watch a camera.

Light at import: OpenCV and the decoder load inside the commands. Making test codes of the offline
signed format (`qr make`, `qr keygen`) is the health code's business: codes.py beside this file,
added to this group by checkpoint/cli/__init__.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from drivers.camera.scene import PhoneScene

app = typer.Typer(no_args_is_help=True, help="Health-code camera: decode, watch, make test codes.")

def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


@app.command()
def decode(
    paths: Annotated[list[Path], typer.Argument(help="Image files to decode.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per image.")] = False,
    budget_ms: Annotated[float, typer.Option(help="Time budget per image (the camera uses 15 ms).")] = 1000.0,
) -> None:
    """Decode the QR codes in images and tell their colour. Exit 1 if any file could not be read."""
    import cv2

    from drivers.camera.colour import classify
    from drivers.camera.decode import Decoder

    decoder = Decoder(budget_ms=budget_ms)
    failed = False
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            failed = True
            error = "not a file" if not path.is_file() else "not an image OpenCV can read"
            typer.echo(json.dumps({"path": str(path), "error": error}) if as_json else f"{path}: error: {error}")
            continue
        result = decoder.decode(image)
        codes = [{"text": f.text, "colour": classify(image, f.corners).colour.value} for f in result.found]
        if as_json:
            record = {"path": str(path), "codes": codes, "ms": round(result.ms, 2)}
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            summary = "; ".join(f"{c['colour']}: {c['text']}" for c in codes) or "no code"
            typer.echo(f"{path}: {summary} ({result.ms:.1f} ms)")
    if failed:
        raise typer.Exit(1)


@app.command()
def watch(
    source: Annotated[
        str, typer.Option(help="V4L2 index or /dev/videoN, rtsp:// or http:// URL, video, folder, sim:")
    ] = "0",
    width: Annotated[int, typer.Option()] = 1280,
    height: Annotated[int, typer.Option()] = 720,
    fps: Annotated[float, typer.Option()] = 15.0,
    seconds: Annotated[float, typer.Option(help="Stop after this long (0: until Ctrl-C).")] = 0.0,
) -> None:
    """Show live decodes (and camera health) as lines. `sim:` cycles demonstration codes."""
    from pydantic import ValidationError

    from drivers.camera.capture import CameraConfig
    from drivers.camera.device import Camera
    from drivers.camera.scene import PhoneScene

    try:
        config = CameraConfig(source=source, width=width, height=height, fps=fps)
    except ValidationError as exc:
        _fail(f"bad camera settings: {exc.errors()[0]['msg']}")
        return
    scene = PhoneScene() if source.startswith("sim:") else None
    camera = Camera(config, scene=scene)
    stop = threading.Event()
    worker = threading.Thread(target=camera.run, args=(_print_event, stop), daemon=True)
    worker.start()
    started = time.monotonic()
    try:
        while worker.is_alive() and (not seconds or time.monotonic() - started < seconds):
            if scene is not None:
                _cycle(scene, time.monotonic() - started)
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        worker.join(timeout=5)
    typer.echo(camera.stats().model_dump_json(), err=True)


def _print_event(event: object) -> None:
    from pydantic import BaseModel

    if isinstance(event, BaseModel):
        typer.echo(f"{type(event).__name__} {event.model_dump_json()}")


def _cycle(scene: PhoneScene, elapsed: float) -> None:
    """sim: a new code every 3 s (green, yellow, red), with a second of empty view between."""
    from contract.messages import CodeColour

    step, within = divmod(elapsed, 3.0)
    colours = (CodeColour.GREEN, CodeColour.YELLOW, CodeColour.RED)
    wanted = None if within > 2.0 else (f"https://hc.example.gov.cn/c/demo{int(step):04d}", colours[int(step) % 3])
    if scene.showing != wanted:
        if wanted is None:
            scene.clear()
        else:
            scene.show(*wanted)
