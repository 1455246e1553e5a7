"""Whatever arrives, the receiver answers with an event, None, or a documented refusal."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from batchport.webhooks import BatchEvent, WebhookReceiver, WebhookRejected

from .wh_signing import NOW, SECRET, signed_headers

RECEIVER = WebhookReceiver(SECRET, clock=lambda: NOW, max_ids=1000)

header_names = st.sampled_from(
    ["webhook-id", "Webhook-Id", "webhook-timestamp", "webhook-signature", "x-other"]
)
header_values = st.one_of(
    st.text(max_size=80),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.just(str(NOW)),
    st.text(alphabet="v1,=+/abcXYZ0123456789 ", max_size=80),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["batch.completed", "batch.succeeded", "batch.failed", "batch.cancelled", "x"]
        )
        | json_values,
        "data": st.fixed_dictionaries({}, optional={"id": json_values | st.text(max_size=20)})
        | json_values,
        "user_metadata": json_values,
    },
)
bodies = st.one_of(st.binary(max_size=200), event_like.map(lambda d: json.dumps(d).encode()))


def _outcome(body: bytes, headers: dict[str, str]) -> BatchEvent | WebhookRejected | None:
    try:
        return RECEIVER.receive(body, headers)
    except WebhookRejected as refused:
        return refused


@given(headers=st.dictionaries(header_names, header_values, max_size=5), body=bodies)
def test_random_headers_and_bodies_are_only_refused(headers: dict[str, str], body: bytes) -> None:
    outcome = _outcome(body, headers)
    assert outcome is None or isinstance(outcome, BatchEvent | WebhookRejected)


@given(body=bodies, event_id=st.text(min_size=1, max_size=40), offset=st.integers(-400, 400))
def test_signed_random_bodies_are_read_or_refused(body: bytes, event_id: str, offset: int) -> None:
    outcome = _outcome(body, signed_headers(body, event_id=event_id, timestamp=NOW + offset))
    assert outcome is None or isinstance(outcome, BatchEvent | WebhookRejected)
    if isinstance(outcome, BatchEvent):
        assert outcome.batch_id and outcome.event_id == event_id.strip()
