"""What the doctor needs from the box's agent.yaml, read without the rest of the agent's settings
(so that it still runs when another section of the file is wrong)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.mqtt import MqttSettings
from common.settings import ConfigError, describe, read_yaml
from contract.messages import CheckpointKind


@dataclass(frozen=True)
class BoxFacts:
    site: str
    device: str
    kind: CheckpointKind
    mqtt: MqttSettings
    outbox: Path
    idcard_port: str | None = None
    thermo_port: str | None = None
    thermo_protocol: str | None = None
    camera: dict[str, Any] | None = None  # the `camera:` section (drivers.camera.capture.CameraConfig)


def read(config: Path) -> BoxFacts:
    data = read_yaml(config)

    def section(name: str) -> dict[str, Any]:
        value = data.get(name) or {}
        return value if isinstance(value, dict) else {}

    try:
        return BoxFacts(
            site=str(data["site"]),
            device=str(data["device"]),
            kind=CheckpointKind(data.get("kind", "traffic")),
            mqtt=MqttSettings.model_validate(section("mqtt")),
            outbox=Path(section("outbox").get("path", "var/agent/outbox.sqlite")),
            idcard_port=section("idcard").get("port"),
            thermo_port=section("thermo").get("port"),
            thermo_protocol=section("thermo").get("protocol"),
            camera=section("camera") or None,
        )
    except KeyError as exc:
        raise ConfigError(f"{config}: field `{exc.args[0]}` is missing") from None
    except ValidationError as exc:
        raise ConfigError(f"{config}: {describe(exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"{config}: {exc}") from None
