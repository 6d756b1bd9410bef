"""What the web layer works with, built once per process and shared by the API and the pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

from central.auth import Accounts
from central.config import CentralSettings
from central.export_jobs import ExportJobs
from central.push import Pusher
from central.releases import Releases
from central.rollouts import Rollouts
from central.store import Store
from central.writer_state import Health


@dataclass
class Services:
    settings: CentralSettings
    store: Store
    accounts: Accounts
    pusher: Pusher
    health: Callable[[], Health | None]  # this process's collector; None: no collector here
    releases: Releases
    rollouts: Rollouts
    exports: ExportJobs

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.settings.devices.offline_after_s)

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(seconds=self.settings.devices.clock_skew_s)

    def today(self) -> date:
        return datetime.now(self.settings.zone).date()


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]  # `svc: Svc` in a route's signature
