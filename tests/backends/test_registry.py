"""The backend registry: names, lazy imports, install hints, entry points, get_backend."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import batchport
from batchport import backends
from batchport.backends import (
    available_backends,
    get_backend,
    load_backend,
    register_backend,
    registry,
)
from batchport.backends.base import Backend, Checkpoint
from batchport.backends.emulator import EmulatorBackend
from batchport.backends.memory import MemoryBackend
from batchport.backends.models import Job, ResultRow, ShardSpec
from batchport.backends.openai import OpenAIBackend
from batchport.errors import ConfigError


class DummyBackend(Backend):
    """A do-nothing backend standing in for a third-party one."""

    name = "dummy"
    provider = "openai"

    def __init__(self, *, flavour: str = "plain") -> None:
        self.flavour = flavour

    async def submit(self, spec: ShardSpec, checkpoint: Checkpoint) -> Job:
        raise NotImplementedError

    async def poll(self, job: Job) -> Job:
        raise NotImplementedError

    async def results(self, job: Job) -> AsyncIterator[ResultRow]:
        return
        yield

    async def cancel(self, job: Job) -> Job:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_BUILTINS", dict(registry._BUILTINS))
    monkeypatch.delenv("BATCHPORT_BACKEND", raising=False)
    return


def test_builtin_names_are_listed_without_importing() -> None:
    assert {"openai", "azure", "emulator", "memory"} <= set(available_backends())


async def test_memory_backend_by_name_takes_its_options() -> None:
    backend = get_backend("memory", polls=3)
    assert isinstance(backend, MemoryBackend)
    assert backend.polls == 3
    await backend.aclose()


async def test_get_backend_by_name_passes_options() -> None:
    backend = get_backend("openai", api_key="sk-x", base_url="http://h.test/v1")
    assert isinstance(backend, OpenAIBackend)
    assert str(backend.client.base_url) == "http://h.test/v1/"
    await backend.aclose()


async def test_instance_is_returned_as_is_and_options_refused() -> None:
    backend = DummyBackend()
    assert get_backend(backend) is backend
    with pytest.raises(ConfigError, match="instance"):
        get_backend(backend, flavour="x")


async def test_default_is_env_then_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    default = get_backend()
    assert isinstance(default, EmulatorBackend)
    await default.aclose()
    register_backend("dummy", DummyBackend)
    monkeypatch.setenv("BATCHPORT_BACKEND", " Dummy ")
    assert isinstance(get_backend(), DummyBackend)


def test_mistyped_name_lists_known_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        get_backend("opneai")
    message = str(info.value)
    assert "unknown backend 'opneai'" in message
    assert "anthropic, azure, emulator, gemini, memory, openai" in message
    assert "Did you mean 'openai'?" in message


def test_unknown_option_is_config_error() -> None:
    with pytest.raises(ConfigError, match="colour"):
        get_backend("openai", api_key="sk-x", colour="red")


def test_azure_not_available_yet_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._BUILTINS, "azure", "batchport.backends.azure_missing:X")
    with pytest.raises(ConfigError, match="not available yet"):
        load_backend("azure")


def test_missing_azure_extra_gives_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "fake_azure_backend.py").write_text("import azure.identity\nclass B: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import now fails
    monkeypatch.setitem(registry._BUILTINS, "azure", "fake_azure_backend:B")
    with pytest.raises(ConfigError) as info:
        get_backend("azure")
    assert "pip install 'batchport[azure]'" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_broken_target_attribute_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    register_backend("broken", "batchport.backends.openai:NoSuchClass")
    with pytest.raises(ConfigError, match="NoSuchClass"):
        load_backend("broken")


def test_entry_points_are_discovered_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    ep = EntryPoint(
        name="thirdparty", value=f"{__name__}:DummyBackend", group=backends.ENTRY_POINT_GROUP
    )

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        loaded.append(group)
        return [ep]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert "thirdparty" in available_backends()
    assert loaded == [backends.ENTRY_POINT_GROUP]
    backend = get_backend("thirdparty", flavour="spicy")
    assert isinstance(backend, DummyBackend)
    assert backend.flavour == "spicy"


def test_register_backend_refuses_duplicates_unless_replace() -> None:
    register_backend("dummy", DummyBackend)
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("dummy", DummyBackend)
    register_backend("dummy", lambda **kw: DummyBackend(flavour="replaced"), replace=True)
    backend = get_backend("dummy")
    assert isinstance(backend, DummyBackend)
    assert backend.flavour == "replaced"


def test_factory_must_produce_a_backend() -> None:
    def not_a_backend(**kw: Any) -> Any:
        return object()

    register_backend("weird", not_a_backend)
    with pytest.raises(ConfigError, match="did not produce a Backend"):
        get_backend("weird")


def test_public_names_are_exported_lazily() -> None:
    names = ("get_backend", "Backend", "Job", "JobStatus", "ShardSpec", "ResultRow", "SyncBackend")
    for name in (*names, "MemoryBackend", "Checkpoint"):
        assert name in batchport.__all__
        assert getattr(batchport, name) is not None
    assert batchport.get_backend is get_backend
