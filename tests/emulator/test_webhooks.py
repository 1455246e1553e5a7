"""Webhooks the emulator sends when batches finish: shapes, signatures the openai SDK
verifies, retries on the virtual clock, the control plane, and where they may go."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from conftest import Client, MakeClient
from emu_jsonl import chat_file
from emu_webhooks import SECRET, Receiver, start_receiver, until
from pydantic import ValidationError
from test_http_api import AUTH, run_batch, upload

from batchport_emulator.app.keys import STATE
from batchport_emulator.batches import Batch
from batchport_emulator.cli import build_config, main
from batchport_emulator.config import EmulatorConfig
from batchport_emulator.lifecycle import Status
from batchport_emulator.webhooks import batch_event, signed_headers

FROZEN = {"clock": {"scale": 0}}
HELD: dict[str, Any] = {
    "clock": {"scale": 0},
    "progression": {"kind": "throughput", "requests_per_s": 1.0, "queue_delay_s": 0,
                    "validating_s": 0, "finalizing_s": 0, "cancelling_s": 0},
}  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for found in start_receiver():
        yield found


def hooks(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"webhooks": {"urls": [receiver.url], "secret": SECRET, "backoff_s": 10, **extra}}


def unwrap(body: bytes, headers: dict[str, str], secret: str = SECRET) -> Any:
    with openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as sdk:
        return sdk.webhooks.unwrap(body, headers, secret=secret)


async def deliveries(client: Client) -> list[dict[str, Any]]:
    answer = await client.get("/_emulator/webhooks")
    assert answer.status == 200
    body: dict[str, Any] = await answer.json()
    assert body["count"] == len(body["data"])
    data: list[dict[str, Any]] = body["data"]
    return data


async def test_a_completed_batch_sends_an_event_the_openai_sdk_verifies(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**FROZEN, **hooks(receiver))
    batch = await run_batch(client, chat_file(3))
    (got,) = await receiver.wait_for(1)
    assert got.path == "/hooks"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["webhook-id"] == got.event["id"]
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.event == {
        "object": "event",
        "id": got.event["id"],
        "type": "batch.completed",
        "created_at": batch["completed_at"],
        "data": {"id": batch["id"]},
    }
    assert got.event["id"].startswith("evt_")
    event = unwrap(got.body, got.headers)
    assert event.type == "batch.completed"
    assert event.data.id == batch["id"]
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(got.body, got.headers, secret="whsec_" + base64.b64encode(b"other").decode())
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(got.body.replace(b"completed", b"cancelled"), got.headers)
    (delivery,) = await deliveries(client)
    assert delivery["status"] == "delivered"
    assert delivery["event"] == got.event
    assert [a["status"] for a in delivery["attempts"]] == [200]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (Status.COMPLETED, "batch.completed"),
        (Status.FAILED, "batch.failed"),
        (Status.EXPIRED, "batch.expired"),
        (Status.CANCELLED, "batch.cancelled"),
    ],
)
@pytest.mark.parametrize("dialect", ["openai", "azure"])
def test_every_terminal_status_has_its_openai_event(
    status: Status, kind: str, dialect: str
) -> None:
    batch = Batch("batch_1", 1, dialect, "/v1/chat/completions", "file-1", "24h", None, None,
                  100, 200, status=status)  # fmt: skip
    batch.timestamps[f"{status.value}_at"] = 150
    event = batch_event(batch, "evt_1")
    assert event is not None
    assert event.type == kind
    assert unwrap(event.body, _headers(event)).type == kind


def _headers(event: Any) -> dict[str, str]:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    return signed_headers(event, int(time.time()), key)


def test_anthropic_batches_and_unfinished_ones_send_nothing() -> None:
    done = Batch("msgbatch_1", 1, "anthropic", "/v1/messages", "f", "24h", None, None, 1, 2,
                 status=Status.COMPLETED)  # fmt: skip
    running = Batch("batch_1", 2, "openai", "/v1/chat/completions", "f", "24h", None, None, 1, 2,
                    status=Status.IN_PROGRESS)  # fmt: skip
    assert batch_event(done, "evt_1") is None
    assert batch_event(running, "evt_2") is None


async def test_failed_expired_and_cancelled_batches_send_their_events(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**HELD, **hooks(receiver))
    state = client.app[STATE]
    state.configure({"faults": {"fail_validation_rate": 1.0}})
    failed = await run_batch(client, chat_file(1))
    state.configure({"faults": {"fail_validation_rate": 0.0, "expire_rate": 1.0}})
    uploaded = await (await upload(client, chat_file(4))).json()
    body = {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions",
            "completion_window": "24h"}  # fmt: skip
    expiring = await (await client.post("/v1/batches", json=body, headers=AUTH)).json()
    state.configure({"faults": {"expire_rate": 0.0}})
    cancelled = await (await client.post("/v1/batches", json=body, headers=AUTH)).json()
    await client.post(f"/v1/batches/{cancelled['id']}/cancel", headers=AUTH)
    await state.processor.drain()
    state.advance_clock(90_000)
    await state.processor.drain()
    await until(lambda: len(state.webhooks.deliveries()) >= 3)
    got = await receiver.wait_for(3)
    kinds = {r.event["data"]["id"]: r.event["type"] for r in got}
    assert kinds[failed["id"]] == "batch.failed"
    assert kinds[expiring["id"]] == "batch.expired"
    assert kinds[cancelled["id"]] == "batch.cancelled"
    for received in got:
        assert unwrap(received.body, received.headers).data.id == received.event["data"]["id"]


async def test_retries_non_2xx_with_backoff_on_the_virtual_clock(
    make_client: MakeClient, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    client = await make_client(**FROZEN, **hooks(receiver, backoff_s=10, max_attempts=5))
    state = client.app[STATE]
    await run_batch(client, chat_file(1))
    await receiver.wait_for(1)
    (delivery,) = state.webhooks.deliveries()
    await until(lambda: delivery.next_at is not None)
    first = delivery.attempts[0].at
    assert delivery.status == "pending"
    assert delivery.next_at == first + 10
    state.advance_clock(9)
    await state.webhooks.tick()
    assert len(receiver.received) == 1  # not due yet
    state.advance_clock(1)
    await receiver.wait_for(2)
    await until(lambda: delivery.next_at is not None)
    assert delivery.next_at == delivery.attempts[1].at + 20  # doubled
    state.advance_clock(20)
    got = await receiver.wait_for(3)
    await until(lambda: delivery.status == "delivered")
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one event, three attempts
    assert len({r.body for r in got}) == 1
    for received in got:
        unwrap(received.body, received.headers)
    (listed,) = await deliveries(client)
    assert [a["status"] for a in listed["attempts"]] == [500, 503, 200]


async def test_connection_errors_are_retried_until_attempts_run_out(
    make_client: MakeClient, receiver: Receiver
) -> None:
    dead = receiver.url.rsplit(":", 1)[0] + ":9/hooks"  # the discard port: nothing listens
    client = await make_client(
        **FROZEN, webhooks={"urls": [dead], "max_attempts": 2, "backoff_s": 5, "timeout_s": 5}
    )
    state = client.app[STATE]
    await run_batch(client, chat_file(1))
    (delivery,) = state.webhooks.deliveries()
    await until(lambda: len(delivery.attempts) == 1 and delivery.next_at is not None)
    assert delivery.attempts[0].status is None
    assert delivery.attempts[0].error
    state.advance_clock(5)
    await until(lambda: delivery.status == "failed")
    assert len(delivery.attempts) == 2
    assert delivery.next_at is None


async def test_without_a_secret_events_go_unsigned(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**FROZEN, webhooks={"urls": [receiver.url]})
    await run_batch(client, chat_file(1))
    (got,) = await receiver.wait_for(1)
    assert "webhook-signature" not in got.headers
    assert got.event["type"] == "batch.completed"


async def test_the_secret_stays_out_of_logs_reprs_and_the_control_plane(
    make_client: MakeClient, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.statuses = [500]
    client = await make_client(**FROZEN, **hooks(receiver, max_attempts=1))
    await run_batch(client, chat_file(1))
    await receiver.wait_for(1)
    state = client.app[STATE]
    await until(lambda: state.webhooks.deliveries()[0].status == "failed")
    tail = SECRET.removeprefix("whsec_")
    shown = [
        caplog.text,
        repr(state.config),
        str(state.config.webhooks),
        await (await client.get("/_emulator/config")).text(),
        await (await client.get("/_emulator/webhooks")).text(),
    ]
    for text in shown:
        assert tail not in text
    assert "failed after 1 attempts" in caplog.text
    with pytest.raises(ValueError, match=r"webhooks\.secret") as caught:
        build_config(_args("--webhook-secret", "whsec_not base64!"))
    assert "not base64" not in str(caught.value)


def _args(*argv: str) -> Any:
    import argparse

    from batchport_emulator.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_command_line_flags_set_urls_and_secret() -> None:
    config = build_config(
        _args(
            "--webhook-url",
            "http://127.0.0.1:1/a",
            "--webhook-url",
            "http://localhost:2/b",
            "--webhook-secret",
            SECRET,
        )
    )
    assert config.webhooks.urls == ["http://127.0.0.1:1/a", "http://localhost:2/b"]
    assert config.webhooks.secret is not None
    assert config.webhooks.secret.get_secret_value() == SECRET
    assert main(["--webhook-url", "http://example.com/x"]) == 2


def test_urls_must_be_loopback_unless_their_host_is_allowed() -> None:
    for url in ("http://example.com/hook", "ftp://127.0.0.1/x", "not a url"):
        with pytest.raises(ValidationError, match="loopback"):
            EmulatorConfig.model_validate({"webhooks": {"urls": [url]}})
    ok = {"urls": ["http://hooks.test:8080/h", "https://[::1]/h", "http://127.0.0.2/h"],
          "allowed_hosts": ["hooks.test"]}  # fmt: skip
    assert EmulatorConfig.model_validate({"webhooks": ok}).webhooks.urls == ok["urls"]
    for secret in ("plain", "whsec_", "whsec_***"):
        with pytest.raises(ValidationError, match="whsec_"):
            EmulatorConfig.model_validate({"webhooks": {"secret": secret}})


async def test_secret_and_allowed_hosts_are_start_up_only(
    make_client: MakeClient, receiver: Receiver
) -> None:
    client = await make_client(**FROZEN, **hooks(receiver))
    for patch in ({"secret": "whsec_" + base64.b64encode(b"x").decode()},
                  {"allowed_hosts": ["*"]}):  # fmt: skip
        answer = await client.patch("/_emulator/config", json={"webhooks": patch})
        assert answer.status == 400
        assert (await answer.json())["error"]["code"] == "startup_only_setting"
    far = await client.patch("/_emulator/config", json={"webhooks": {"urls": ["http://x.test/"]}})
    assert far.status == 400
    moved = await client.patch(
        "/_emulator/config", json={"webhooks": {"urls": [receiver.url + "/2"]}}
    )
    assert moved.status == 200, await moved.text()
    assert client.app[STATE].config.webhooks.secret is not None
    profile = await client.patch("/_emulator/config", json={"profile": "instant"})
    assert profile.status == 200, await profile.text()


async def test_reset_forgets_deliveries(make_client: MakeClient, receiver: Receiver) -> None:
    client = await make_client(**FROZEN, **hooks(receiver))
    await run_batch(client, chat_file(1))
    await receiver.wait_for(1)
    assert len(await deliveries(client)) == 1
    await client.post("/_emulator/reset")
    assert await deliveries(client) == []
