"""Reading OpenAI's and Gemini's batch events into one neutral BatchEvent."""

from __future__ import annotations

import dataclasses

import pytest

from batchport.webhooks import BatchEvent, InvalidEvent, parse_event

from .wh_signing import NOW, gemini_event, openai_event


def _parse(body: bytes) -> BatchEvent | None:
    return parse_event(body, event_id="msg_1", received_at=NOW)


@pytest.mark.parametrize(
    ("raw", "neutral"),
    [
        ("batch.completed", "completed"),
        ("batch.failed", "failed"),
        ("batch.expired", "expired"),
        ("batch.cancelled", "cancelled"),
    ],
)
def test_openai_batch_events(raw: str, neutral: str) -> None:
    event = _parse(openai_event(raw, "batch_abc"))
    assert event == BatchEvent(
        provider="openai",
        type=neutral,  # type: ignore[arg-type]
        batch_id="batch_abc",
        event_id="msg_1",
        received_at=NOW,
        user_metadata=None,
        raw_type=raw,
    )
    assert event.raw["id"] == "evt_123"


@pytest.mark.parametrize(
    ("raw", "neutral"),
    [("batch.succeeded", "completed"), ("batch.failed", "failed"), ("batch.expired", "expired")],
)
def test_gemini_batch_events_keep_their_user_metadata(raw: str, neutral: str) -> None:
    event = _parse(gemini_event(raw, "batches/b-1", user_metadata={"run": "r7", "shard": 2}))
    assert event is not None
    assert (event.provider, event.type, event.batch_id) == ("gemini", neutral, "batches/b-1")
    assert event.user_metadata == {"run": "r7", "shard": 2}
    assert event.raw_type == raw


def test_gemini_user_metadata_is_optional() -> None:
    event = _parse(gemini_event())
    assert event is not None and event.user_metadata is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "response.completed", "data": {"id": "resp_1"}}',
        b'{"type": "video.generated", "data": {}}',
        b'{"type": "interaction.completed"}',
        gemini_event("batch.succeeded", "batch_abc"),  # Gemini's type, OpenAI's id
        openai_event("batch.completed", "batches/xyz"),  # OpenAI's type, Gemini's id
    ],
)
def test_other_events_are_ignored(body: bytes) -> None:
    assert _parse(body) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"batch.completed"',
        b'{"data": {"id": "batch_abc"}}',
        b'{"type": 7}',
        b'{"type": "batch.completed"}',
        b'{"type": "batch.completed", "data": {"id": ""}}',
        b'{"type": "batch.completed", "data": {"id": 12}}',
        b'{"type": "batch.completed", "data": []}',
    ],
)
def test_a_body_that_is_no_event_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        _parse(body)


def test_events_are_frozen_and_compare_without_the_raw_body() -> None:
    one, two = _parse(openai_event()), _parse(openai_event())
    assert one == two
    assert one is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.batch_id = "other"  # type: ignore[misc]
    assert "raw=" not in repr(one)
