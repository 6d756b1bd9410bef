"""Loading a box's or central's settings: one YAML file, overridden by environment variables.

Both the agent and central describe their settings as a pydantic-settings class; this module reads
the YAML, applies `CHECKPOINT_<PART>_<FIELD>__<SUBFIELD>` environment overrides on top, and turns
every failure into one `ConfigError` whose message names the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

S = TypeVar("S", bound="FileSettings")


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what to do."""


class FileSettings(BaseSettings):
    """Base for settings read from a YAML file; environment variables win over the file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; give the box's configuration with --config") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, not {type(data).__name__}")
    return data


def load(cls: type[S], path: Path | None, **overrides: Any) -> S:
    """Settings from `path` (if any), then `overrides`, then the environment on top."""
    data = read_yaml(path) if path is not None else {}
    data.update(overrides)
    try:
        return cls(**data)
    except ValidationError as exc:
        where = str(path) if path is not None else "settings"
        raise ConfigError(f"{where}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """One line per problem, naming the field by its dotted path."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"field `{field}`: {err['msg']}")
    return "; ".join(lines)
