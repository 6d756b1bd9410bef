"""The parameters the API and the pages accept, each bounded where it enters.

A viewer may put anything in a query string; what they put there must come back as a 4xx with the
reason, never reach the database or the calendar arithmetic as something that breaks them (a day
in year 1 or 9999, a page number or case id past the database's integers, a NUL byte, a range of
fifty years). Every route takes its days, ranges, pages, ids and names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, HTTPException, Path, Query, UploadFile
from pydantic import AfterValidator

from central.web.services import Services, services
from contract.messages import NAME_PATTERN

FIRST_DAY = date(2000, 1, 1)  # no verdict is older; a day outside these is a mistake or a probe
LAST_DAY = date(2099, 12, 31)
MAX_RANGE_DAYS = 366  # figures and exports cover at most a year at once
DEFAULT_RANGE_DAYS = 14
MAX_PAGE = 10_000  # a page number past this is no page anyone reads
MAX_OFFSET = 1_000_000
MAX_ID = 2**31 - 1  # the database's integer ids


_EARLIEST = datetime.combine(FIRST_DAY, time.min, tzinfo=UTC)
_LATEST = datetime.combine(LAST_DAY, time.max, tzinfo=UTC)


def _within_days(at: datetime) -> datetime:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if not _EARLIEST <= aware <= _LATEST:
        raise ValueError(f"a time between {FIRST_DAY} and {LAST_DAY}")
    return aware


Day = Annotated[date, Query(ge=FIRST_DAY, le=LAST_DAY, description=f"a day between {FIRST_DAY} and {LAST_DAY}")]
Instant = Annotated[datetime, AfterValidator(_within_days), Query(description="an ISO 8601 time; UTC unless it says")]
PageNumber = Annotated[int, Query(ge=0, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
VerdictId = Annotated[UUID, Path()]
# a site or device named in a query or path: checked like the contract's names, so it is safe in a file name
SiteName = Annotated[str, Query(pattern=NAME_PATTERN)]
DeviceName = Annotated[str, Path(pattern=NAME_PATTERN)]
SitePath = Annotated[str, Path(pattern=NAME_PATTERN)]
# the site picker of a page: a site name, or empty for "all" / "the first"
SiteChoice = Annotated[str, Query(pattern=f"^$|{NAME_PATTERN}")]
# a software version to filter the fleet by, or empty for all
SoftwareVersion = Annotated[str, Query(pattern=r"^$|^[0-9A-Za-z_.+-]{1,64}$")]
HistoryHours = Annotated[int, Query(ge=1, le=7 * 24, description="hours of a box's metrics history, at most a week")]
CaseFilter = Literal["open", "new", "contacted", "transferred", "closed", "all"]
AuditAction = Annotated[str, Query(pattern=r"^[a-z_]{1,32}$")]
PushKind = Literal["watchlist", "policy", "risk_areas"]


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date


def day_range(
    svc: Annotated[Services, Depends(services)], first: Day | None = None, last: Day | None = None
) -> DayRange:
    """From `first` to `last` (inclusive); by default the last two weeks up to today."""
    last = last or min(svc.today(), LAST_DAY)
    first = first or max(last - timedelta(days=DEFAULT_RANGE_DAYS - 1), FIRST_DAY)
    if first > last:
        raise HTTPException(422, f"the first day ({first}) is after the last ({last})")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise HTTPException(422, f"at most {MAX_RANGE_DAYS} days at once ({first} to {last} is {days})")
    return DayRange(first, last)


Days = Annotated[DayRange, Depends(day_range)]


UPLOAD_MAX_BYTES = 50 * 1024 * 1024


def read_upload(file: UploadFile) -> bytes:
    """An uploaded file's bytes, refused (413) past 50 MB without reading more than that."""
    data = file.file.read(UPLOAD_MAX_BYTES + 1)
    if len(data) > UPLOAD_MAX_BYTES:
        raise HTTPException(413, "the file is over 50 MB")
    return data
