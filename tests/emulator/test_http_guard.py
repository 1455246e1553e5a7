"""The control plane's locks: the control key, start-up-only settings, plugins over
HTTP, Host/Origin checks, clock bounds."""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator

import pytest
from test_http_api import AUTH, MakeClient

from batchport_emulator.app.guard import name_allowed
from batchport_emulator.cli import add_arguments, build_config
from batchport_emulator.config import EmulatorConfig

KEY = {"Authorization": "Bearer sk-admin"}
CALLED: list[str] = []


@pytest.fixture
def plugin_module() -> Iterator[str]:
    module = types.ModuleType("bp_guard_plugin")

    def validator(token: str) -> bool:
        CALLED.append(token)
        return True

    module.validator = validator  # type: ignore[attr-defined]
    sys.modules["bp_guard_plugin"] = module
    yield "bp_guard_plugin"
    del sys.modules["bp_guard_plugin"]


async def test_control_plane_needs_the_api_key_when_one_is_set(make_client: MakeClient) -> None:
    client = await make_client(api_keys=["sk-admin"])
    for path in ("/_emulator/config", "/_emulator/clock", "/_emulator/batches"):
        resp = await client.get(path)
        assert resp.status == 401
        assert "x-request-id" in resp.headers
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
        assert (await client.get(path, headers={"Authorization": "Bearer sk-bad"})).status == 401
        assert (await client.get(path, headers=KEY)).status == 200
    assert (await client.post("/_emulator/reset")).status == 401
    off = await client.patch("/_emulator/config", json={"api_keys": []})
    assert off.status == 401
    assert (await client.get("/v1/batches", headers={"Authorization": "Bearer x"})).status == 401
    assert (await client.get("/_emulator/config", headers={"x-api-key": "sk-admin"})).status == 200


async def test_a_control_key_replaces_the_api_keys(make_client: MakeClient) -> None:
    client = await make_client(api_keys=["sk-user"], control_key="ctl")
    user = {"Authorization": "Bearer sk-user"}
    assert (await client.get("/_emulator/config", headers=user)).status == 401
    ok = await client.get("/_emulator/config", headers={"Authorization": "Bearer ctl"})
    assert ok.status == 200
    assert "ctl" not in await ok.text()
    assert (await client.get("/v1/batches", headers=user)).status == 200


async def test_open_control_plane_without_keys(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.patch("/_emulator/config", json={"faults": {"row_failure_rate": 0.5}})
    assert resp.status == 200
    assert (await client.post("/_emulator/clock", json={"advance": 10})).status == 200


@pytest.mark.parametrize(
    "patch",
    [
        {"allow_plugins": True},
        {"control_key": "mine"},
        {"allowed_hosts": ["*"]},
        {"profile": "realistic", "allow_plugins": True},
        {"data_dir": "/tmp/elsewhere"},
    ],
)
async def test_startup_only_settings_refused_over_http(
    make_client: MakeClient, patch: dict[str, object]
) -> None:
    client = await make_client(api_keys=["sk-admin"])
    resp = await client.patch("/_emulator/config", json=patch, headers=KEY)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "startup_only_setting"


async def test_a_profile_patch_keeps_the_keys(make_client: MakeClient) -> None:
    client = await make_client(api_keys=["sk-admin"])
    resp = await client.patch("/_emulator/config", json={"profile": "realistic"}, headers=KEY)
    assert resp.status == 200
    assert (await client.get("/_emulator/config")).status == 401
    assert (await client.get("/v1/batches", headers={"Authorization": "Bearer x"})).status == 401


@pytest.mark.parametrize(
    "patch",
    [
        {"azure": {"bearer_validator": "os:system"}},
        {"responder": {"kind": "callable", "callable": "os:system"}},
        {"responder": {"kind": "forward", "forward_url": "http://evil.example/v1"}},
        {"responder": {"forward_url": "http://evil.example/v1"}},
    ],
)
async def test_plugins_over_http_are_off_by_default(
    make_client: MakeClient, patch: dict[str, object]
) -> None:
    client = await make_client()
    resp = await client.patch("/_emulator/config", json=patch)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "plugins_not_allowed"
    assert "--allow-plugins" in error["message"]
    config = await (await client.get("/_emulator/config")).json()
    assert config["azure"]["bearer_validator"] == "auto"
    assert config["responder"]["kind"] == "fake"


async def test_an_azure_bearer_validator_plugin_is_never_called_without_permission(
    make_client: MakeClient, plugin_module: str
) -> None:
    CALLED.clear()
    client = await make_client()
    patch = {"azure": {"bearer_validator": f"{plugin_module}:validator"}}
    assert (await client.patch("/_emulator/config", json=patch)).status == 400
    await client.get(
        "/openai/files?api-version=2024-10-21", headers={"Authorization": "Bearer echo hi"}
    )
    assert CALLED == []


async def test_allowed_plugins_are_loaded_at_configuration_time(
    make_client: MakeClient, plugin_module: str
) -> None:
    client = await make_client(allow_plugins=True)
    good = {"azure": {"bearer_validator": f"{plugin_module}:validator"}}
    assert (await client.patch("/_emulator/config", json=good)).status == 200
    for bad in (
        {"azure": {"bearer_validator": f"{plugin_module}:missing"}},
        {"azure": {"bearer_validator": "no_such_module_xyz:fn"}},
        {"responder": {"kind": "callable", "callable": "no_such_module_xyz:fn"}},
        {"responder": {"kind": "forward"}},
    ):
        resp = await client.patch("/_emulator/config", json=bad)
        assert resp.status == 400, bad
        assert (await resp.json())["error"]["code"] == "invalid_plugin"
    config = await (await client.get("/_emulator/config")).json()
    assert config["azure"]["bearer_validator"] == f"{plugin_module}:validator"
    assert config["responder"]["kind"] == "fake"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example"},
        {"Host": "attacker.example:8089"},
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Origin": "http://[bad"},
        {"Origin": "http://127.0.0.1.attacker.example"},
        {"Host": "[::1"},
        {"Host": "127.0.0.1@attacker.example"},
    ],
)
async def test_foreign_hosts_and_origins_get_403(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = await make_client()
    for method, path in (("POST", "/_emulator/reset"), ("GET", "/v1/batches")):
        resp = await client.request(method, path, headers={**AUTH, **headers})
        assert resp.status == 403
        assert "x-request-id" in resp.headers
        assert (await resp.json())["error"]["code"] == "host_not_allowed"


async def test_loopback_and_listed_hosts_pass(make_client: MakeClient) -> None:
    client = await make_client(allowed_hosts=["emulator"])
    for host in ("localhost:1", "127.0.0.1", "[::1]:8089", "emulator:8089", "LOCALHOST."):
        headers = {**AUTH, "Host": host, "Origin": f"http://{host}"}
        assert (await client.get("/v1/batches", headers=headers)).status == 200, host


def test_host_names_by_bind() -> None:
    wildcard = EmulatorConfig(host="0.0.0.0")
    assert name_allowed("10.1.2.3", wildcard)
    assert not name_allowed("evil.example", wildcard)
    assert not name_allowed("10.1.2.3", EmulatorConfig())
    assert name_allowed("box.lan", EmulatorConfig(host="box.lan"))
    assert name_allowed("anything", EmulatorConfig(allowed_hosts=["*"]))


@pytest.mark.parametrize(
    "body", [{"set": 1e300}, {"advance": 1e300}, {"set": 3.3e10}, {"scale": 1e300}]
)
async def test_the_clock_refuses_absurd_times(
    make_client: MakeClient, body: dict[str, float]
) -> None:
    client = await make_client()
    before = await (await client.get("/_emulator/clock")).json()
    resp = await client.post("/_emulator/clock", json=body)
    assert resp.status == 400
    assert "error" in await resp.json()
    after = await (await client.get("/_emulator/clock")).json()
    assert after["scale"] == before["scale"]
    assert after["now"] < 3e10
    patch = await client.patch("/_emulator/config", json={"clock": {"scale": 1e300}})
    assert patch.status == 400


def test_cli_security_flags() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--control-key", "c", "--allow-plugins", "--allowed-host", "a", "--allowed-host", "b"]
    )
    config = build_config(args)
    assert config.control_key is not None
    assert config.control_key.get_secret_value() == "c"
    assert config.allow_plugins
    assert config.allowed_hosts == ["a", "b"]
    plain = build_config(parser.parse_args([]))
    assert (plain.control_key, plain.allow_plugins, plain.allowed_hosts) == (None, False, [])
