"""The broker fixtures themselves: start, restart on the same port, pause, TLS, passwords."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import aiomqtt
import pytest

from tests.helpers.mosquitto import Mosquitto, Subscribe


async def test_recorder_sees_retained_and_live(mosquitto: Mosquitto, subscriber: Subscribe) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish("t/retained", "é ✓", qos=1, retain=True)
        rec = await subscriber(mosquitto, "t/#")
        await client.publish("t/live", b"x", qos=1)
        retained = await rec.wait_for("t/retained")
        live = await rec.wait_for("t/+", lambda m: m.topic == "t/live")
    assert retained.retain and retained.text == "é ✓"
    assert not live.retain and live.payload == b"x" and live.qos == 1


async def test_restart_keeps_port_and_persistence(
    mosquitto_factory: Callable[..., Mosquitto], subscriber: Subscribe
) -> None:
    broker = mosquitto_factory(persistence=True)
    port = broker.port
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish("p/state", b"kept", qos=1, retain=True)
    broker.restart()
    assert broker.port == port and broker.running
    rec = await subscriber(broker, "p/#")
    assert (await rec.wait_for("p/state")).payload == b"kept"


async def test_restart_without_persistence_forgets(
    mosquitto: Mosquitto, subscriber: Subscribe
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish("p/state", b"gone", qos=1, retain=True)
    mosquitto.restart()
    rec = await subscriber(mosquitto, ["p/#", "marker"])
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish("marker", b"1", qos=1)
    await rec.wait_for("marker")
    assert rec.on("p/#") == []


async def test_password_file_rejects_wrong_password(
    mosquitto_factory: Callable[..., Mosquitto],
) -> None:
    broker = mosquitto_factory(users={"bridge": "right"}, allow_anonymous=False)
    async with aiomqtt.Client(broker.host, broker.port, username="bridge", password="right"):
        pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, username="bridge", password="wrong"):
            pass


async def test_tls_listener_with_generated_pki(
    mosquitto_factory: Callable[..., Mosquitto],
) -> None:
    broker = mosquitto_factory(tls=True, require_client_cert=True)
    assert broker.tls_files is not None and broker.tls_port is not None
    context = ssl.create_default_context(cafile=str(broker.tls_files.ca_cert))
    context.load_cert_chain(str(broker.tls_files.client_cert), str(broker.tls_files.client_key))
    async with aiomqtt.Client("127.0.0.1", broker.tls_port, tls_context=context) as client:
        await client.publish("tls/ok", b"1", qos=1)
    assert broker.tls_url.startswith("mqtts://127.0.0.1:")


def test_pause_and_resume(mosquitto: Mosquitto) -> None:
    mosquitto.pause()
    mosquitto.resume()
    mosquitto.stop()
    assert not mosquitto.running
