"""`checkpoint qr make` and `qr keygen`: issuer keys and test codes of the offline signed format (CKHC1).

Light at import: the signing code, OpenCV and segno load inside the commands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

_COLOURS = ("green", "yellow", "red", "grey")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


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
