"""Signature, timestamp window and replay checks, without HTTP, on an injected clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import openai
import pytest

from batchport.errors import ConfigError
from batchport.webhooks import (
    InvalidEvent,
    InvalidSignature,
    ReplayedWebhook,
    ReplayMemory,
    StaleTimestamp,
    WebhookReceiver,
    WebhookVerifier,
)

from .wh_signing import NOW, OTHER_SECRET, SECRET, openai_event, signature, signed_headers


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _receiver(clock: FakeClock | None = None, **kwargs: int) -> WebhookReceiver:
    return WebhookReceiver(SECRET, clock=clock or FakeClock(), **kwargs)


def test_the_signing_helper_agrees_with_the_sdk() -> None:
    body = openai_event()
    headers = signed_headers(body, timestamp=int(time.time()))
    event = openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret=SECRET)
    assert event.type == "batch.completed"


def test_a_signed_delivery_passes() -> None:
    body = openai_event()
    checked = WebhookVerifier(SECRET, clock=FakeClock()).verify(body, signed_headers(body))
    assert (checked.event_id, checked.timestamp) == ("msg_1", NOW)


def test_header_names_are_case_insensitive() -> None:
    body = openai_event()
    headers = {k.title(): v for k, v in signed_headers(body).items()}
    assert WebhookVerifier(SECRET, clock=FakeClock()).verify(body, headers).event_id == "msg_1"


def test_any_of_several_signatures_may_match() -> None:
    body = openai_event()
    headers = signed_headers(body)
    wrong = signature(OTHER_SECRET, "msg_1", NOW, body)
    headers["webhook-signature"] = f"{wrong} {headers['webhook-signature']}"
    WebhookVerifier(SECRET, clock=FakeClock()).verify(body, headers)


def test_a_secret_without_the_prefix_is_used_as_text() -> None:
    body = openai_event()
    headers = signed_headers(body)
    mac = hmac.new(b"plain-secret", f"msg_1.{NOW}.".encode() + body, hashlib.sha256)
    headers["webhook-signature"] = "v1," + base64.b64encode(mac.digest()).decode()
    WebhookVerifier("plain-secret", clock=FakeClock()).verify(body, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b, signed_headers(b, secret=OTHER_SECRET)), id="wrong-secret"),
        pytest.param(lambda b, h: (b.replace(b"batch_abc", b"batch_xyz"), h), id="body"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "msg_2"}), id="id"),
        pytest.param(lambda b, h: (b, {**h, "webhook-timestamp": str(NOW - 1)}), id="timestamp"),
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "v1,AAAA"}), id="garbage"),
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "v1,é"}), id="non-ascii"),
        pytest.param(lambda b, h: (b, {**h, "webhook-timestamp": "12e3"}), id="not-digits"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": ""}), id="empty-id"),
        pytest.param(lambda b, h: (b"\xff" + b, h), id="not-utf8"),
    ],
)
def test_a_tampered_delivery_is_refused(tamper: object) -> None:
    body = openai_event()
    body2, headers = tamper(body, signed_headers(body))  # type: ignore[operator]
    with pytest.raises(InvalidSignature) as refused:
        WebhookVerifier(SECRET, clock=FakeClock()).verify(body2, headers)
    assert SECRET not in str(refused.value)
    assert headers["webhook-signature"] not in str(refused.value)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(missing: str) -> None:
    body = openai_event()
    headers = signed_headers(body)
    del headers[missing]
    with pytest.raises(InvalidSignature, match=missing):
        WebhookVerifier(SECRET, clock=FakeClock()).verify(body, headers)


@pytest.mark.parametrize(
    ("offset", "passes"), [(-301, False), (-300, True), (0, True), (300, True), (301, False)]
)
def test_the_timestamp_must_lie_within_the_tolerance(offset: int, passes: bool) -> None:
    body = openai_event()
    headers = signed_headers(body, timestamp=NOW + offset)
    verifier = WebhookVerifier(SECRET, clock=FakeClock(), tolerance_s=300)
    if passes:
        verifier.verify(body, headers)
    else:
        with pytest.raises(StaleTimestamp):
            verifier.verify(body, headers)


def test_an_absurd_timestamp_is_stale() -> None:
    body = openai_event()
    headers = signed_headers(body, timestamp=10**40)
    with pytest.raises(StaleTimestamp):
        WebhookVerifier(SECRET, clock=FakeClock()).verify(body, headers)


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_QQ"])
def test_a_bad_secret_is_a_config_error_that_does_not_repeat_it(secret: str) -> None:
    with pytest.raises(ConfigError) as refused:
        WebhookVerifier(secret)
    assert "not base64!" not in str(refused.value)


def test_reprs_hide_the_secret() -> None:
    receiver = _receiver()
    assert SECRET not in repr(receiver)
    assert SECRET[6:] not in repr(receiver.verifier)


def test_a_replay_is_refused_and_a_retry_with_a_new_timestamp_too() -> None:
    clock = FakeClock()
    receiver = _receiver(clock)
    body = openai_event()
    assert receiver.receive(body, signed_headers(body)) is not None
    with pytest.raises(ReplayedWebhook):
        receiver.receive(body, signed_headers(body))
    clock.now += 60
    with pytest.raises(ReplayedWebhook):
        receiver.receive(body, signed_headers(body, timestamp=NOW + 60))
    assert receiver.receive(body, signed_headers(body, event_id="msg_2")) is not None


def test_an_old_replay_fails_on_its_timestamp() -> None:
    clock = FakeClock()
    receiver = _receiver(clock)
    body = openai_event()
    headers = signed_headers(body)
    receiver.receive(body, headers)
    clock.now += 301
    with pytest.raises(StaleTimestamp):
        receiver.receive(body, headers)


def test_a_forged_delivery_does_not_use_up_a_genuine_id() -> None:
    receiver = _receiver()
    body = openai_event()
    with pytest.raises(InvalidSignature):
        receiver.receive(body, signed_headers(body, secret=OTHER_SECRET))
    assert receiver.receive(body, signed_headers(body)) is not None


def test_a_refused_body_does_not_use_up_its_id() -> None:
    receiver = _receiver()
    with pytest.raises(InvalidEvent):
        receiver.receive(b"{not json", signed_headers(b"{not json"))
    body = openai_event()
    assert receiver.receive(body, signed_headers(body)) is not None


def test_an_ignored_event_still_counts_as_seen() -> None:
    receiver = _receiver()
    body = b'{"type": "response.completed", "data": {"id": "resp_1"}}'
    assert receiver.receive(body, signed_headers(body)) is None
    with pytest.raises(ReplayedWebhook):
        receiver.receive(body, signed_headers(body))


def test_the_replay_memory_is_bounded_and_forgets_expired_ids() -> None:
    memory = ReplayMemory(max_ids=2)
    memory.remember("a", expires_at=10, now=0)
    memory.remember("b", expires_at=20, now=0)
    memory.remember("c", expires_at=30, now=0)  # full: "a" expires first and goes
    assert len(memory) == 2
    assert not memory.seen("a", 0)
    assert memory.seen("b", 0) and memory.seen("c", 0)
    assert not memory.seen("b", 21)
    memory.remember("d", expires_at=40, now=25)  # "b" has expired and is dropped
    assert len(memory) == 2
    assert memory.seen("c", 25) and memory.seen("d", 25)
    with pytest.raises(ValueError):
        ReplayMemory(max_ids=0)
