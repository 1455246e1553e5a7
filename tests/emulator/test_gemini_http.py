"""Gemini wire shapes through the aiohttp test client: the Operation while pending and
when done (inline and file), result lines, inline items, RFC 3339 nanosecond times,
int64-as-string stats, google.rpc.Status bodies, the resumable upload protocol chunk by
chunk, downloads under both prefixes, and the SDK's default ``/v1`` paths.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from conftest import Client, MakeClient

from batchport_emulator.app.keys import STATE

KEY = {"x-goog-api-key": "g"}
MODEL = "gemini-2.5-flash"
NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
HELD: dict[str, Any] = {
    "clock": {"scale": 0},
    "progression": {"kind": "throughput", "requests_per_s": 1.0, "queue_delay_s": 0,
                    "validating_s": 0, "finalizing_s": 0, "cancelling_s": 0},
}  # fmt: skip


def request(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def inline_body(*texts: str) -> dict[str, Any]:
    items = [{"request": request(t), "metadata": {"key": f"k{i}"}} for i, t in enumerate(texts)]
    return {"batch": {"displayName": "d", "inputConfig": {"requests": {"requests": items}}}}


async def create(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(
        f"/v1beta/models/{MODEL}:batchGenerateContent", json=body, headers=KEY
    )
    assert answer.status == 200, await answer.text()
    result: dict[str, Any] = await answer.json()
    return result


async def finish(client: Client, name: str) -> dict[str, Any]:
    """Poll (moving virtual time along) until the operation is done."""
    state = client.app[STATE]
    for _ in range(20):
        await state.processor.drain()
        answer = await client.get(f"/v1beta/{name}", headers=KEY)
        result: dict[str, Any] = await answer.json()
        if result.get("done"):
            return result
        state.advance_clock(10)
    raise AssertionError("the batch did not finish")


async def upload(client: Client, data: bytes, chunk: int = 7) -> dict[str, Any]:
    start = await client.post(
        "/upload/v1beta/files",
        json={"file": {"displayName": "in"}},
        headers={**KEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
                 "X-Goog-Upload-Header-Content-Length": str(len(data)),
                 "X-Goog-Upload-Header-Content-Type": "application/jsonl"},
    )  # fmt: skip
    assert start.status == 200 and start.headers["x-goog-upload-status"] == "active"
    url = start.headers["x-goog-upload-url"]
    assert url.startswith(str(client.make_url("/upload/v1beta/files?upload_id=")))
    path = url[len(str(client.make_url(""))) :]
    offset = 0
    while True:
        piece = data[offset : offset + chunk]
        last = offset + len(piece) >= len(data)
        command = "upload, finalize" if last else "upload"
        answer = await client.post(
            path,
            data=piece,
            headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)},
        )
        assert answer.status == 200, await answer.text()
        offset += len(piece)
        if last:
            assert answer.headers["x-goog-upload-status"] == "final"
            result: dict[str, Any] = (await answer.json())["file"]
            return result
        assert answer.headers["x-goog-upload-status"] == "active"


async def test_operation_while_pending_and_done_inline(make_client: MakeClient) -> None:
    client = await make_client(**HELD)
    op = await create(client, inline_body("a", "b [[emulator:status=400]]"))
    assert set(op) == {"name", "metadata"}  # no "done": false, as proto3 JSON leaves it out
    meta = op["metadata"]
    assert meta["@type"].endswith("v1main.GenerateContentBatch")
    assert meta["state"] == "BATCH_STATE_PENDING" and meta["name"] == op["name"]
    assert meta["model"] == f"models/{MODEL}" and meta["displayName"] == "d"
    assert NANOS.match(meta["createTime"]) and NANOS.match(meta["updateTime"])
    assert meta["batchStats"] == {"requestCount": "2", "pendingRequestCount": "2"}
    assert "output" not in meta and "endTime" not in meta
    done = await finish(client, op["name"])
    meta = done["metadata"]
    assert done["done"] is True and meta["state"] == "BATCH_STATE_SUCCEEDED"
    assert NANOS.match(meta["endTime"])
    stats = {"requestCount": "2", "successfulRequestCount": "1", "failedRequestCount": "1"}
    assert meta["batchStats"] == stats
    items = meta["output"]["inlinedResponses"]["inlinedResponses"]
    assert done["response"]["inlinedResponses"]["inlinedResponses"] == items
    by_key = {item["metadata"]["key"]: item for item in items}
    assert set(by_key["k0"]) == {"response", "metadata"}
    assert by_key["k0"]["response"]["candidates"][0]["content"]["role"] == "model"
    assert by_key["k1"] == {"error": {"code": 3, "message": by_key["k1"]["error"]["message"]},
                            "metadata": {"key": "k1"}}  # fmt: skip


async def test_file_source_result_lines_and_downloads(make_client: MakeClient) -> None:
    client = await make_client()
    lines = [{"key": f"r{i}", "request": request(f"q{i}")} for i in range(3)]
    lines.append({"key": "bad", "request": request("[[emulator:status=503]]")})
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    file = await upload(client, data)
    assert file["sizeBytes"] == str(len(data)) and file["source"] == "UPLOADED"
    assert file["mimeType"] == "application/jsonl" and file["displayName"] == "in"
    assert "downloadUri" not in file and NANOS.match(file["expirationTime"])
    op = await create(client, {"batch": {"input_config": {"file_name": file["name"]}}})
    done = await finish(client, op["name"])
    output = done["metadata"]["output"]
    assert set(output) == {"responsesFile"}
    name = output["responsesFile"]
    for prefix in ("/v1beta", "/download/v1beta"):
        answer = await client.get(f"{prefix}/{name}:download?alt=media", headers=KEY)
        assert answer.status == 200
        rows = [orjson.loads(line) for line in (await answer.read()).splitlines()]
        assert sorted(r["key"] for r in rows) == ["bad", "r0", "r1", "r2"]
        for row in rows:
            assert set(row) == ({"key", "error"} if row["key"] == "bad" else {"key", "response"})
    meta = await (await client.get(f"/v1beta/{name}", headers=KEY)).json()
    assert meta["source"] == "GENERATED" and meta["downloadUri"].endswith(":download?alt=media")
    refused = await client.get(f"/v1beta/{file['name']}:download?alt=media", headers=KEY)
    assert refused.status == 400
    assert (await refused.json())["error"]["status"] == "FAILED_PRECONDITION"


async def test_bad_upload_offset_and_sizes(make_client: MakeClient) -> None:
    client = await make_client(gemini={"max_file_bytes": 10})
    too_big = await client.post(
        "/upload/v1beta/files",
        headers={**KEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
                 "X-Goog-Upload-Header-Content-Length": "11"},
    )  # fmt: skip
    assert too_big.status == 400
    plain = await client.post("/upload/v1beta/files", data=b"x", headers=KEY)
    assert plain.status == 400
    unknown = await client.post("/upload/v1beta/files?upload_id=nope", data=b"x")
    assert unknown.status == 404


async def test_v1_paths_with_a_google_key_are_gemini(make_client: MakeClient) -> None:
    client = await make_client()
    op = await (
        await client.post(
            f"/v1/models/{MODEL}:batchGenerateContent", json=inline_body("x"), headers=KEY
        )
    ).json()
    assert op["name"].startswith("batches/")
    got = await client.get(f"/v1/{op['name']}", headers=KEY)
    assert got.status == 200 and (await got.json())["name"] == op["name"]
    listed = await client.get("/v1/batches", headers=KEY)
    assert [o["name"] for o in (await listed.json())["operations"]] == [op["name"]]
    openai = await client.get("/v1/batches", headers={"Authorization": "Bearer k"})
    assert (await openai.json())["object"] == "list"


async def test_generate_content_errors_and_markers(make_client: MakeClient) -> None:
    client = await make_client()
    url = f"/v1beta/models/{MODEL}:generateContent"
    empty = await client.post(url, json={"contents": []}, headers=KEY)
    body = await empty.json()
    assert empty.status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert body["error"]["code"] == 400
    busy = await client.post(url, json=request("[[emulator:status=503]]"), headers=KEY)
    assert busy.status == 503 and (await busy.json())["error"]["status"] == "UNAVAILABLE"
    blocked = await (await client.post(url, json=request("[[emulator:content_filter]]"),
                                       headers=KEY)).json()  # fmt: skip
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in blocked
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    answer = await (
        await client.post(url, json={**request("x"), "generationConfig": config}, headers=KEY)
    ).json()
    text = answer["candidates"][0]["content"]["parts"][0]["text"]
    assert isinstance(orjson.loads(text)["n"], int)
    enum = {"responseMimeType": "text/x.enum",
            "responseSchema": {"type": "STRING", "enum": ["RED", "BLUE"]}}  # fmt: skip
    picked = await (
        await client.post(url, json={**request("x"), "generationConfig": enum}, headers=KEY)
    ).json()
    assert picked["candidates"][0]["content"]["parts"][0]["text"] in ("RED", "BLUE")
    usage = answer["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
