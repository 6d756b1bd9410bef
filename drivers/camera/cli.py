"""`checkpoint qr …` — field tools for the health-code camera: decode images, watch a camera, make codes.

Light at import: OpenCV, the decoder and the signing code load inside the commands.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from drivers.camera.scene import PhoneScene

app = typer.Typer(no_args_is_help=True, help="Health-code camera: decode, watch, make test codes.")

_COLOURS = ("green", "yellow", "red", "grey")


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


@app.command()
def keygen(
    private_key_file: Annotated[Path, typer.Argument(help="Where to write the issuer's private key (mode 0600).")],
) -> None:
    """Create an issuer key for the offline signed format; prints the public key for the boxes."""
    from agent.healthcode.keys import generate_key, private_key_text, public_key_text

    if private_key_file.exists():
        _fail(f"{private_key_file} exists: refusing to overwrite a key")
    key = generate_key()
    private_key_file.touch(mode=0o600)
    private_key_file.write_text(private_key_text(key) + "\n")
    typer.echo(public_key_text(key))


@app.command()
def make(
    out: Annotated[Path, typer.Argument(help="Output: .png or .svg (the bare code), or .png with --page.")],
    key_file: Annotated[Path, typer.Option("--key", help="The issuer's private key (from `checkpoint qr keygen`).")],
    issuer: Annotated[str, typer.Option(help="Issuer id: lower-case letters, digits, dashes.")] = "demo-cdc",
    colour: Annotated[str, typer.Option(help="green, yellow, red or grey.")] = "green",
    subject: Annotated[str, typer.Option(help="The person's pseudonym (16-64 hex); random if empty.")] = "",
    valid_hours: Annotated[
        float, typer.Option(help="Hours from now until the code expires (negative: expired).")
    ] = 24.0,
    test_hours_ago: Annotated[float | None, typer.Option(help="Nucleic-acid sample taken this many hours ago.")] = None,
    test_result: Annotated[str, typer.Option(help="negative, positive or pending.")] = "negative",
    vaccine_doses: Annotated[int | None, typer.Option(help="Vaccine doses, 0-9.")] = None,
    page: Annotated[bool, typer.Option(help="Render a phone's health-code page around the code.")] = False,
    scale: Annotated[int, typer.Option(help="Pixels per module of the bare code.")] = 8,
) -> None:
    """Render a code of the offline signed format (CKHC1) for testing; prints its payload."""
    import secrets

    from pydantic import ValidationError

    from agent.healthcode.keys import KeyTextError, load_private_key
    from agent.healthcode.signed_format import Claims, encode

    if colour not in _COLOURS:
        _fail(f"colour must be one of {', '.join(_COLOURS)}")
    try:
        key = load_private_key(key_file.read_text())
    except (OSError, KeyTextError) as exc:
        _fail(f"cannot use the key in {key_file}: {exc}")
        return
    now = datetime.now(UTC)
    try:
        claims = Claims(
            iss=issuer,
            sub=subject or secrets.token_hex(16),
            col=colour,  # type: ignore[arg-type]
            iat=int(now.timestamp()),
            exp=int((now + timedelta(hours=valid_hours)).timestamp()),
            nat=None
            if test_hours_ago is None
            else {"at": int((now - timedelta(hours=test_hours_ago)).timestamp()), "res": test_result},  # type: ignore[arg-type]
            vac=vaccine_doses,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        _fail(f"invalid {'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
        return
    payload = encode(claims, key)
    _write_code(out, payload, colour, page, scale)
    typer.echo(payload)


def _write_code(out: Path, payload: str, colour: str, page: bool, scale: int) -> None:
    import cv2
    import segno

    from contract.messages import CodeColour
    from drivers.camera.render import COLOUR_BGR, health_page

    if page:
        image, _ = health_page(payload, CodeColour(colour))
        if not cv2.imwrite(str(out), image):
            _fail(f"cannot write {out} (use .png or .jpg)")
        return
    b, g, r = COLOUR_BGR[CodeColour(colour)]
    try:
        segno.make_qr(payload, error="m", boost_error=False).save(str(out), scale=scale, dark=f"#{r:02x}{g:02x}{b:02x}")
    except (OSError, ValueError) as exc:
        _fail(f"cannot write {out}: {exc}")
