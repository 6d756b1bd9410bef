"""The production broker configuration, on the real Mosquitto: who may log in, publish and read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from checkpoint.provision import actions
from checkpoint.provision.deployment import CENTRAL_USER, Deployment, Login
from checkpoint.provision.trial_broker import TrialBroker
from common.mqtt import MqttSettings
from contract import topics
from contract.messages import CheckpointKind
from tests.deploy.conftest import follow_reloads, make_deployment, reachable_dir
from tests.deploy.mqtt_tls import nothing_arrives, session
from tests.mqtt import wait_until

BOXES = {"box-a": Login.PASSWORD, "box-b": Login.PASSWORD, "box-c": Login.CERTIFICATE}


def box_mqtt(deployment: Deployment, device: str, **changes: object) -> MqttSettings:
    """How `device` logs in, from the deployment's kept secrets (what its bundle holds)."""
    settings, keep = deployment.settings(), deployment.box_dir(device)
    ca = deployment.broker_dir / "ca.crt"
    if (keep / "client.crt").exists():
        mqtt = MqttSettings(host="127.0.0.1", port=settings.broker.cert_port, tls_ca=ca,
                            tls_cert=keep / "client.crt", tls_key=keep / "client.key")
    else:
        password = SecretStr((keep / "mqtt.password").read_text().strip())
        mqtt = MqttSettings(host="127.0.0.1", port=settings.broker.port, username=device, password=password, tls_ca=ca)
    return mqtt.model_copy(update=changes)


def central_mqtt(deployment: Deployment) -> MqttSettings:
    password = (deployment.dir / "central" / "mqtt.password").read_text().strip()
    return MqttSettings(host="127.0.0.1", port=deployment.settings().broker.port, username=CENTRAL_USER,
                        password=SecretStr(password), tls_ca=deployment.broker_dir / "ca.crt")


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Deployment, TrialBroker]]:
    with reachable_dir() as root:
        deployment = make_deployment(root)
        for device, login in BOXES.items():
            actions.provision(deployment, device, "site-1", CheckpointKind.TRAFFIC, login)
        broker = TrialBroker.of(deployment).start()
        follow_reloads(deployment, broker)
        yield deployment, broker
        broker.stop()


@pytest.fixture
def central(world: tuple[Deployment, TrialBroker]) -> Iterator[object]:
    """Central's account on its shared subscription, as the collector subscribes."""
    with session(central_mqtt(world[0]), "central-test") as s:
        assert s.accepted()
        for topic in topics.central_subscriptions("central"):
            s.subscribe(topic)
        yield s


def test_anonymous_is_refused(world: tuple[Deployment, TrialBroker]) -> None:
    mqtt = MqttSettings(host="127.0.0.1", port=world[1].port, tls_ca=world[0].broker_dir / "ca.crt")
    with session(mqtt, "anonymous") as s:
        assert not s.accepted()


def test_wrong_password_is_refused(world: tuple[Deployment, TrialBroker]) -> None:
    with session(box_mqtt(world[0], "box-a", password=SecretStr("not-the-password")), "agent-x") as s:
        assert not s.accepted()


def test_plain_tcp_without_tls_gets_nowhere(world: tuple[Deployment, TrialBroker]) -> None:
    with session(box_mqtt(world[0], "box-a", tls_ca=None), "agent-plain") as s:
        assert not s.accepted()


def test_a_certificate_box_cannot_log_in_with_a_password(world: tuple[Deployment, TrialBroker]) -> None:
    mqtt = box_mqtt(world[0], "box-a").model_copy(update={"username": "box-c"})  # box-a's password
    with session(mqtt, "agent-c-impostor") as s:
        assert not s.accepted()


@pytest.mark.parametrize("device", ["box-a", "box-c"])  # password and certificate logins
def test_verdicts_reach_central_over_tls(world: tuple[Deployment, TrialBroker], central: object, device: str) -> None:
    with session(box_mqtt(world[0], device), f"agent-{device}") as box:
        assert box.accepted()
        box.publish(topics.uplink("site-1", device, "verdict"), '{"test": 1}')
    msg = central.messages.get(timeout=5)  # type: ignore[attr-defined]
    assert msg.topic == topics.uplink("site-1", device, "verdict")


def test_box_a_cannot_publish_as_box_b(world: tuple[Deployment, TrialBroker], central: object) -> None:
    with session(box_mqtt(world[0], "box-a"), "agent-a") as box:
        assert box.accepted()
        for kind in topics.UPLINK_KINDS:
            box.client.publish(topics.uplink("site-1", "box-b", kind), "forged", qos=1)
        box.client.publish(topics.uplink("site-2", "box-a", "verdict"), "wrong site", qos=1)
        box.client.publish(topics.downlink("site-1", "box-b", "receipt"), "forged receipt", qos=1)
        assert nothing_arrives(central)  # type: ignore[arg-type]


def test_box_a_cannot_read_box_b_downlinks(world: tuple[Deployment, TrialBroker]) -> None:
    deployment = world[0]
    with session(box_mqtt(deployment, "box-a"), "agent-a") as a, session(central_mqtt(deployment), "central-pub") as c:
        assert a.accepted() and c.accepted()
        a.subscribe(topics.downlink("site-1", "box-b", "#"))  # Mosquitto grants it, then delivers nothing
        a.subscribe(topics.downlink("site-1", "box-a", "+"))
        a.subscribe(topics.broadcast("+"))
        c.publish(topics.downlink("site-1", "box-b", "receipt"), "for b")
        c.publish(topics.downlink("site-1", "box-a", "receipt"), "for a")
        c.publish(topics.broadcast("policy"), "for all")
        got = sorted(a.messages.get(timeout=5).topic for _ in range(2))
        assert got == [topics.broadcast("policy"), topics.downlink("site-1", "box-a", "receipt")]
        assert nothing_arrives(a)


def test_a_box_cannot_read_the_uplinks_of_others(world: tuple[Deployment, TrialBroker]) -> None:
    deployment = world[0]
    with session(box_mqtt(deployment, "box-a"), "agent-a") as a, session(box_mqtt(deployment, "box-b"), "agent-b") as b:
        assert a.accepted() and b.accepted()
        a.subscribe("checkpoint/v1/#")
        b.publish(topics.uplink("site-1", "box-b", "verdict"), "b's verdict")
        assert nothing_arrives(a)


def refused(mqtt: MqttSettings) -> bool:
    with session(mqtt, "agent-retry") as s:
        return not s.accepted()


@pytest.mark.parametrize("login", [Login.PASSWORD, Login.CERTIFICATE])
def test_a_revoked_box_is_refused_and_cut_off(deployment: Deployment, login: Login) -> None:
    """Revoked: new logins are refused, and a connection already open carries nothing more (a
    password box is disconnected at the reload; a certificate box's connection stays open, since the
    broker does not recheck the certificates of open connections, but the ACL no longer lets it through,
    and the broker drops it at its first refused publish)."""
    actions.provision(deployment, "box-r", "site-1", CheckpointKind.COMMUNITY, login)
    broker = TrialBroker.of(deployment).start()
    try:
        follow_reloads(deployment, broker)
        box_login = box_mqtt(deployment, "box-r")
        with session(central_mqtt(deployment), "central-r") as c, session(box_login, "r") as box:
            assert c.accepted() and box.accepted()
            c.subscribe(topics.uplink("site-1", "box-r", "verdict"))
            assert actions.revoke(deployment, "box-r").reload_error is None
            wait_until(lambda: refused(box_login), what="the broker to refuse the revoked box")  # reload done
            if login is Login.PASSWORD:
                assert box.disconnected.wait(5), "the broker kept the revoked box's connection"
            else:
                box.client.publish(topics.uplink("site-1", "box-r", "verdict"), "after revocation", qos=1)
                assert nothing_arrives(c)
    finally:
        broker.stop()
