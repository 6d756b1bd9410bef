"""A release of the box software: a wheelhouse (the project's wheel and every wheel it depends on, for
one platform) and its manifest, signed with the deployment's release key.

The release key (Ed25519) is made by `checkpoint provision init` and never leaves the deployment
directory; boxes and central hold only its public half. So neither central nor anyone on the broker
can make a box install software the deployer did not build: central only stores and serves what the
deployer signed, and the box checks the manifest's signature and every file's SHA-256 itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contract.messages import CONTRACT_VERSION, CentralSig, Hex64, Model, ReleaseVersion, Time

MANIFEST = "manifest.json"
PROJECT = "checkpoint_station"  # the project's wheel name: checkpoint_station-<version>-py3-none-any.whl
Platform = Literal["x86_64", "aarch64"]
WheelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,200}\.whl$")]
"""A wheel's file name: safe as a path on the box and in a URL (no slash, no `..` of its own)."""


class ReleaseFile(Model):
    name: WheelName
    sha256: Hex64
    size: int = Field(ge=1, le=2**31 - 1)


class Manifest(Model):
    """What a release holds; the box installs nothing that is not named here with its hash."""

    type: Literal["release"] = "release"
    v: Literal[1] = CONTRACT_VERSION
    version: ReleaseVersion
    platform: Platform
    python: Annotated[str, StringConstraints(pattern=r"^3\.\d{1,2}$")]
    built_at: Time
    project: WheelName  # the project's own wheel, one of `files`
    files: Annotated[list[ReleaseFile], Field(min_length=1, max_length=1000)]
    sig: CentralSig | None = None  # Ed25519 with the release key (contract.signing.seal)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("a file is named twice")
        if self.project not in names:
            raise ValueError(f"the project's wheel {self.project} is not among the files")
        if not self.project.startswith(f"{PROJECT}-{self.version}-"):
            raise ValueError(f"the project's wheel {self.project} is not version {self.version}")
        return self

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)
