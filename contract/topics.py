"""Topic names under one versioned root.

    checkpoint/v1/<site>/<device>/verdict        QoS 1, the agent's outbox drains here
    checkpoint/v1/<site>/<device>/status         retained birth; the will is the retained death
    checkpoint/v1/<site>/<device>/metrics        periodic figures
    checkpoint/v1/<site>/<device>/diagnostics    the box's answer to a diagnostics request
    checkpoint/v1/<site>/<device>/down/<what>    retained downlink for one box
    checkpoint/v1/all/down/<what>                retained downlink for every box

`<what>` is one of contract.messages.DOWNLINK_MODELS (retained settings; a box's own overrides the
broadcast), `receipt` (not retained: central's confirmation of stored verdicts), `conflict` or
`diagnostics` (not retained: an admin asks the box for its doctor report and log lines).
"""

from __future__ import annotations

from typing import NamedTuple

ROOT = "checkpoint/v1"
BROADCAST = "all"
UPLINK_KINDS = ("verdict", "status", "metrics", "diagnostics")


def uplink(site: str, device: str, kind: str) -> str:
    if kind not in UPLINK_KINDS:
        raise ValueError(f"unknown uplink kind {kind!r}")
    return f"{ROOT}/{site}/{device}/{kind}"


def downlink(site: str, device: str, what: str) -> str:
    return f"{ROOT}/{site}/{device}/down/{what}"


def broadcast(what: str) -> str:
    return f"{ROOT}/{BROADCAST}/down/{what}"


def agent_subscriptions(site: str, device: str) -> list[str]:
    """What an agent subscribes to: its own downlinks and the broadcast ones."""
    return [f"{ROOT}/{site}/{device}/down/+", f"{ROOT}/{BROADCAST}/down/+"]


def central_subscriptions(group: str) -> list[str]:
    """What a collector subscribes to, through a shared subscription so replicas split the load."""
    return [f"$share/{group}/{ROOT}/+/+/{kind}" for kind in UPLINK_KINDS]


class Uplink(NamedTuple):
    site: str
    device: str
    kind: str


def parse_uplink(topic: str) -> Uplink | None:
    """Split an uplink topic; None when the topic is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != ROOT or parts[4] not in UPLINK_KINDS:
        return None
    return Uplink(parts[2], parts[3], parts[4])


def parse_downlink(topic: str) -> str | None:
    """The `<what>` of a downlink topic, or None."""
    parts = topic.split("/")
    if topic.startswith(ROOT + "/") and len(parts) >= 5 and parts[-2] == "down":
        return parts[-1]
    return None
