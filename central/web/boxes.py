"""What the boxes themselves ask of central over HTTPS: the releases they were told to install.

Every request is signed by the box with its own key (central.web.security.box), like its uplinks;
a revoked box gets nothing. The files go out as central took them in: the box checks them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import FileResponse

from central.web.security import box
from central.web.services import Svc
from contract.release import MANIFEST

router = APIRouter(prefix="/api/box", tags=["boxes"])
Box = Annotated[str, Depends(box)]
Version = Annotated[str, Path(pattern=r"^[0-9][0-9A-Za-z.+]{0,63}$")]
FileName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.+-]{1,200}\.(whl|json)$")]


@router.get("/releases/{version}/{name}")
def release_file(version: Version, name: FileName, _: Box, svc: Svc) -> FileResponse:
    """A release's manifest.json or one of the wheels it names."""
    path = svc.releases.file(version, name)
    if path is None:
        raise HTTPException(404, f"no file {name} in a release {version}")
    media = "application/json" if name == MANIFEST else "application/octet-stream"
    return FileResponse(path, media_type=media)
