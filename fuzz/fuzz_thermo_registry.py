"""Fuzz the thermometer registry and the families' options (drivers.thermo.codecs.family).

Input: `<protocol name>\\n<options JSON>\\n<bytes from the device>`. Contract checked: an unknown name is
a `ConfigError`; options are a pydantic `ValidationError` or build a codec; that codec's requests are
bytes; it takes the device bytes without raising. The ascii family's `pattern` is left at its default:
a regular expression is the deployer's code, and one that backtracks badly is not the codec's fault.
"""

from __future__ import annotations

from fuzz._harness import instrumented, main

with instrumented():
    from pydantic import ValidationError

    from drivers.thermo.codecs import ConfigError, FrameError, family
    from drivers.thermo.codecs.ascii_line import DEFAULT_PATTERN
    from drivers.thermo.events import RawReading
    from fuzz._thermo import AT

NAME = "fuzz_thermo_registry"


def one_input(data: bytes) -> None:
    name, _, rest = data.partition(b"\n")
    options_json, _, stream = rest.partition(b"\n")
    try:
        chosen = family(name.decode("utf-8", "surrogateescape"))
    except ConfigError:
        return
    try:
        options = chosen.options.model_validate_json(options_json)
    except ValidationError:
        return
    if getattr(options, "pattern", DEFAULT_PATTERN) != DEFAULT_PATTERN:
        return
    codec = chosen.make(options)
    assert isinstance(codec.start_request(), bytes)
    assert codec.poll_request() is None or isinstance(codec.poll_request(), bytes)
    assert all(isinstance(e, RawReading | FrameError) for e in codec.feed(stream, AT))


def seeds() -> list[bytes]:
    return [b"gy-mcu\n{\"mode\":\"stream\"}\n\x5a\x5a\x45\x04\x0c\x78\x0d\x19\xa7",
            b"aa-a5\n{\"target\":\"object\"}\n\xaa\xa5\x03\x01\x04\x55",
            b"modbus\n{\"address\":247,\"holding_register\":65535,\"signed\":false,\"scale\":0.01}\n\x01\x03",
            b"ascii\n{\"request\":\"READ\\r\\n\",\"max_line\":8}\nT:36.5\r\n", b"thermo\n{}\n"]


if __name__ == "__main__":
    main(NAME, one_input, seeds)
