"""Staged rollouts, the shell around central.rollout: the database, the update downlinks, the audit log.

An admin starts a rollout (a release, a target, canaries, wave size, failure threshold), pauses,
resumes or cancels it; each is audited. A worker in every central (`run`) moves the running ones on
every few seconds: it reads what the boxes of the wave last said in their births, asks
central.rollout what next, sends the update downlinks (signed, retained on each box's own topic, so
a box that is offline gets it when it returns) and writes the outcome. A box is marked sent before
its downlink is published, by a conditional update, so two replicas never both send it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from central import audit
from central.push import PushError, publish_retained
from central.regions import Scope
from central.rollout import ACTIONS, Box, BoxState, RolloutState, advance, choose, plan
from central.schema import device_status, devices, releases, rollout_boxes, rollouts
from central.sql import now, storage_error
from common.logs import Trouble
from common.mqtt import MqttSettings
from common.settings import ConfigError
from contract import signing, topics
from contract.messages import NAME_PATTERN, UpdatePush

log = logging.getLogger(__name__)
DeviceName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


class Target(BaseModel):
    """Which boxes: of a site, or named, or every one (within the admin's jurisdiction); then a share."""

    site: DeviceName | None = None
    devices: list[DeviceName] = Field(default=[], max_length=10_000)
    percent: int = Field(default=100, ge=1, le=100)


class NewRollout(BaseModel):
    version: Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z.+]{0,63}$")]
    target: Target = Target()
    canaries: int = Field(default=1, ge=0, le=1000)
    wave_size: int = Field(default=10, ge=1, le=10_000)
    max_failed_percent: int = Field(default=0, ge=0, le=100)  # more failures than this in a wave: pause


class RolloutRefused(ValueError):
    """The rollout cannot start or change: no such release, no box in the target, not in this state."""


class Rollouts:
    def __init__(self, engine: Engine, mqtt: MqttSettings, signer: Callable[[], Ed25519PrivateKey]) -> None:
        self.engine = engine
        self.mqtt = mqtt
        self._signer = signer

    # what admins do

    def start(self, order: NewRollout, username: str, scope: Scope, address: str = "") -> int:
        with self.engine.begin() as conn:
            if conn.scalar(select(releases.c.version).where(releases.c.version == order.version)) is None:
                raise RolloutRefused(f"central holds no release {order.version} (checkpoint central release-add)")
            query = select(devices.c.device, devices.c.site).where(devices.c.revoked.is_(False),
                                                                     scope.site_in(devices.c.site))
            if order.target.site is not None:
                query = query.where(devices.c.site == order.target.site)
            if order.target.devices:
                query = query.where(devices.c.device.in_(order.target.devices))
            sites = dict(conn.execute(query.order_by(devices.c.device)).all())
            at = now()
            chosen = choose(sorted(sites), order.target.percent, f"{order.version}:{at.isoformat()}")
            if not chosen:
                raise RolloutRefused("no box in the target (within your jurisdiction)")
            waves = plan(chosen, order.canaries, order.wave_size)
            rollout = conn.execute(rollouts.insert().values(
                version=order.version, target=order.target.model_dump(), waves=waves, wave=0,
                max_failed_percent=order.max_failed_percent, state=RolloutState.RUNNING.value, reason="",
                created_by=username, created_at=at, updated_at=at,
            )).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(rollout_boxes.insert(), [
                dict(rollout=rollout, device=d, site=sites[d], wave=i, state=BoxState.PENDING.value, reason="")
                for i, wave in enumerate(waves) for d in wave
            ])
            audit.record(conn, username, "rollout_start", f"rollout {rollout}",
                         f"{order.version} to {len(chosen)} boxes in {len(waves)} waves "
                         f"({order.canaries} canaries, threshold {order.max_failed_percent}%)", address)
        log.info("rollout started", extra={"rollout": rollout, "version": order.version, "boxes": len(chosen)})
        return int(rollout)

    def change(self, rollout: int, to: RolloutState, username: str, scope: Scope, address: str = "") -> None:
        """Pause, resume (accepting the paused wave's failures) or cancel; only a rollout whose boxes all
        stand in `scope` (one with none there is answered as if it did not exist)."""
        allowed = {RolloutState.PAUSED: {RolloutState.RUNNING}, RolloutState.RUNNING: {RolloutState.PAUSED},
                   RolloutState.CANCELLED: {RolloutState.RUNNING, RolloutState.PAUSED}}[to]
        with self.engine.begin() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout, _reaches(scope))).mappings().first()
            if row is None:
                raise RolloutRefused(f"no rollout {rollout}")
            if not scope.whole and conn.scalar(select(func.count()).where(
                    rollout_boxes.c.rollout == rollout, ~scope.site_in(rollout_boxes.c.site))):
                raise RolloutRefused(f"rollout {rollout} reaches boxes outside your area: an office above yours "
                                     "changes it")
            if RolloutState(row["state"]) not in allowed:
                raise RolloutRefused(f"rollout {rollout} is {row['state']}")
            if to is RolloutState.RUNNING:
                conn.execute(rollout_boxes.update().where(
                    rollout_boxes.c.rollout == rollout, rollout_boxes.c.wave == row["wave"],
                    rollout_boxes.c.state == BoxState.FAILED.value).values(state=BoxState.ACCEPTED.value))
            conn.execute(rollouts.update().where(rollouts.c.id == rollout)
                         .values(state=to.value, reason="" if to is RolloutState.RUNNING else row["reason"],
                                 updated_at=now()))
            action = next(name for name, state in ACTIONS.items() if state is to)
            audit.record(conn, username, f"rollout_{action}", f"rollout {rollout}", row["version"], address)

    def listed(self, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
        """The newest rollouts that reach boxes in `scope`, with those boxes counted by state (who
        started one, when they stand in `scope`)."""
        columns = [c if c.name != "created_by" else scope.writer(c) for c in rollouts.c]
        with self.engine.connect() as conn:
            found = conn.execute(select(*columns).where(_reaches(scope)).order_by(rollouts.c.id.desc())
                                 .limit(limit)).mappings().all()
            counts: dict[int, dict[str, int]] = {}
            query = select(rollout_boxes.c.rollout, rollout_boxes.c.state, func.count()).where(
                scope.site_in(rollout_boxes.c.site)).group_by(rollout_boxes.c.rollout, rollout_boxes.c.state)
            for r, state, n in conn.execute(query):
                counts.setdefault(r, {})[state] = n
            own: dict[int, set[str]] = {}
            if not scope.whole:
                mine = select(rollout_boxes.c.rollout, rollout_boxes.c.device, rollout_boxes.c.site).where(
                    scope.site_in(rollout_boxes.c.site))
                for r, device, site in conn.execute(mine):
                    own.setdefault(r, set()).update((device, site))
        return [{**r, **(_within(r, own.get(r["id"], set())) if not scope.whole else {}),
                 "counts": counts.get(r["id"], {})} for r in found]

    def boxes(self, rollout: int, scope: Scope) -> list[dict[str, Any]]:
        """The rollout's boxes that stand in `scope`."""
        with self.engine.connect() as conn:
            query = select(rollout_boxes).where(rollout_boxes.c.rollout == rollout, scope.site_in(rollout_boxes.c.site))
            return [dict(r) for r in conn.execute(query.order_by(rollout_boxes.c.wave, rollout_boxes.c.device))
                    .mappings()]

    # the worker

    def run(self, stop: threading.Event, every_s: float = 2.0) -> None:
        """Every `every_s` until `stop`; neither the broker nor the database away ends it (a part of
        central that ends stops central)."""
        trouble = Trouble(log, "rollouts")
        while not stop.wait(every_s):
            try:
                self.tick()
                trouble.ok()
            except (PushError, ConfigError) as exc:  # the broker away: the next tick tries again
                trouble.failed(f"could not send: {str(exc)[:300]}")
            except SQLAlchemyError as exc:
                trouble.failed(f"storage unavailable: {storage_error(exc)}")

    def tick(self) -> None:
        """Move every running rollout on by one step."""
        with self.engine.connect() as conn:
            running = conn.execute(select(rollouts).where(rollouts.c.state == RolloutState.RUNNING.value)
                                   ).mappings().all()
        for row in running:
            self._advance(dict(row))

    def _advance(self, row: dict[str, Any]) -> None:
        rollout = row["id"]
        with self.engine.connect() as conn:
            query = (select(rollout_boxes.c.device, rollout_boxes.c.wave, rollout_boxes.c.state,
                            device_status.c.software, device_status.c.software_update)
                     .select_from(rollout_boxes.outerjoin(device_status,
                                                          device_status.c.device == rollout_boxes.c.device))
                     .where(rollout_boxes.c.rollout == rollout))
            boxes = {d: Box(wave, BoxState(state), software, update)
                     for d, wave, state, software, update in conn.execute(query)}
        decision = advance(row["version"], row["wave"], len(row["waves"]), row["max_failed_percent"], boxes)
        with self.engine.begin() as conn:
            for device, (state, reason) in decision.marks.items():
                conn.execute(rollout_boxes.update().where(rollout_boxes.c.rollout == rollout,
                                                          rollout_boxes.c.device == device)
                             .values(state=state.value, reason=reason[:500]))
                log.info(f"rollout box {state.value}", extra={"rollout": rollout, "device": device, "reason": reason})
            changes: dict[str, Any] = {}
            if decision.wave is not None:
                changes["wave"] = decision.wave
            if decision.state is not None:
                changes.update(state=decision.state.value, reason=decision.reason)
                audit.record(conn, "central", f"rollout_{decision.state.value}", f"rollout {rollout}",
                             decision.reason or row["version"])
                log.info(f"rollout {decision.state.value}", extra={"rollout": rollout, "reason": decision.reason})
            if changes:
                conn.execute(rollouts.update().where(rollouts.c.id == rollout).values(**changes, updated_at=now()))
        if decision.send:
            self._send(rollout, row["version"], decision.send)

    def _send(self, rollout: int, version: str, devices_: Sequence[str]) -> None:
        signer = self._signer()
        with self.engine.connect() as conn:
            sha = str(conn.scalar(select(releases.c.manifest_sha256).where(releases.c.version == version)))
        for device in devices_:
            with self.engine.begin() as conn:
                site = self._claim(conn, rollout, device)
            if site is None:
                continue  # another replica sent it
            push = UpdatePush(version=version, manifest_sha256=sha, rollout=rollout, issued_at=datetime.now(UTC))
            try:
                publish_retained(self.mqtt, topics.downlink(site, device, "update"), signing.seal(signer, push))
            except PushError:
                with self.engine.begin() as conn:  # not sent after all: the next tick tries again
                    conn.execute(rollout_boxes.update().where(rollout_boxes.c.rollout == rollout,
                                                              rollout_boxes.c.device == device)
                                 .values(state=BoxState.PENDING.value, sent_at=None))
                raise
            log.info("rollout sent the update", extra={"rollout": rollout, "device": device, "version": version})

    def _claim(self, conn: Connection, rollout: int, device: str) -> str | None:
        """Mark the box sent if it was pending; its site, or None when someone else did first."""
        done = conn.execute(rollout_boxes.update().where(
            rollout_boxes.c.rollout == rollout, rollout_boxes.c.device == device,
            rollout_boxes.c.state == BoxState.PENDING.value).values(state=BoxState.SENT.value, sent_at=now()))
        if done.rowcount != 1:
            return None
        return conn.scalar(select(rollout_boxes.c.site).where(rollout_boxes.c.rollout == rollout,
                                                              rollout_boxes.c.device == device))


def _reaches(scope: Scope) -> Any:
    """The filter for a rollout with at least one box in `scope`."""
    if scope.whole:
        return rollouts.c.id.is_not(None)
    return rollouts.c.id.in_(select(rollout_boxes.c.rollout).where(scope.site_in(rollout_boxes.c.site))
                             .scalar_subquery())


def _within(row: Any, own: set[str]) -> dict[str, Any]:
    """A rollout's waves and target as a reader sees them who has only the boxes and sites in `own`."""
    target = dict(row["target"])
    target["devices"] = [d for d in target.get("devices") or [] if d in own]
    if target.get("site") not in own:
        target["site"] = None
    return {"waves": [[d for d in wave if d in own] for wave in row["waves"]], "target": target}
