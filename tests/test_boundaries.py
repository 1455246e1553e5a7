"""Import boundaries between the library, the emulator and their layers, read from the AST.

Every ``.py`` module under ``emulator/batchport_emulator`` and ``src/batchport`` is parsed;
every import counts, wherever it is (module level, inside functions, under
``TYPE_CHECKING``), and so do ``importlib.import_module("...")`` and ``__import__("...")``
calls with a literal name. Relative imports are resolved to absolute names.

- The emulator never imports the library (``batchport``); ``batchport_emulator`` is fine.
- The emulator's state (everything except its HTTP layer) never imports the HTTP layer,
  nor aiohttp (except the forward responder, an HTTP client).
- Only the store (``src/batchport/store.py`` or ``src/batchport/store/``) imports sqlite3.

A failure lists each violation as ``path:line: imports name``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "batchport": ROOT / "src" / "batchport",
    "batchport_emulator": ROOT / "emulator" / "batchport_emulator",
}

# The emulator's HTTP layer: the aiohttp application, the server that runs it and the
# entry points that start one. Everything else in batchport_emulator is state.
HTTP_LAYER = (
    "batchport_emulator.app",
    "batchport_emulator.server",
    "batchport_emulator.pytest_plugin",
    "batchport_emulator.cli",
    "batchport_emulator.__main__",
)
# Besides the HTTP layer, only the forward responder may use aiohttp: it is an HTTP client
# that relays rows to a real provider.
AIOHTTP_ALLOWED = (*HTTP_LAYER, "batchport_emulator.responders.forward")
# The package facade names its public exports (some in the HTTP layer) lazily.
FACADE = "batchport_emulator"

SQLITE_ALLOWED = ("batchport.store",)  # store.py, or the store/ package
# Modules that import sqlite3 today although they should not: each is its own strict
# xfail case, which fails (XPASS) once the module is fixed, so remove it from here then.


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. batchport_emulator.app.control
    path: Path
    is_package: bool

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Imported:
    module: Module
    line: int
    name: str  # absolute dotted name

    def __str__(self) -> str:
        return f"{self.module.rel}:{self.line}: imports {self.name}"


def modules() -> list[Module]:
    found: list[Module] = []
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found.append(Module(".".join(parts), path, is_package))
    return found


def _resolve(module: Module, name: str, level: int) -> str:
    """The absolute name of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_import_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):  # importlib.import_module(...)
        return func.attr == "import_module"
    if isinstance(func, ast.Name):  # import_module(...) or __import__(...)
        return func.id in {"import_module", "__import__"}
    return False


def imports_in(module: Module, source: str | None = None) -> Iterator[Imported]:
    """Every module ``module`` imports, with its line; ``from a import b`` yields both
    ``a`` and ``a.b`` (``b`` may be a submodule)."""
    text = module.path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.module or "", node.level)
            if node.module:
                yield Imported(module, node.lineno, base)
            for alias in node.names:
                if alias.name != "*":
                    yield Imported(module, node.lineno, f"{base}.{alias.name}".lstrip("."))
        elif isinstance(node, ast.Call) and _is_import_call(node) and node.args:
            name = _literal(node.args[0])
            if name is None:
                continue  # a computed name cannot be checked statically
            if name.startswith("."):
                package = next(
                    (_literal(k.value) for k in node.keywords if k.arg == "package"), None
                )
                level = len(name) - len(name.lstrip("."))
                anchor = Module(package, module.path, True) if package else module
                name = _resolve(anchor, name.lstrip("."), level)
            yield Imported(module, node.lineno, name)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(
    scope: list[Module], forbidden: tuple[str, ...], exempt: tuple[str, ...] = ()
) -> list[str]:
    """``path:line: imports name`` for each forbidden import (one per line of source)."""
    found: dict[tuple[str, int], str] = {}
    for module in scope:
        if within(module.name, exempt):
            continue
        for imp in imports_in(module):
            if within(imp.name, forbidden):
                found.setdefault((module.rel, imp.line), str(imp))
    return [found[key] for key in sorted(found)]


def report(found: list[str]) -> str:
    return "\n".join(["forbidden imports:", *found])


MODULES = modules()
EMULATOR = [m for m in MODULES if within(m.name, ("batchport_emulator",))]


def test_the_allow_lists_name_real_modules() -> None:
    names = {m.name for m in MODULES}
    for allowed in (FACADE, *AIOHTTP_ALLOWED, *SQLITE_ALLOWED):
        assert any(within(n, (allowed,)) for n in names), f"no module {allowed}: update the lists"


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    path = tmp_path / "batchport_emulator" / "responders" / "fake.py"
    module = Module("batchport_emulator.responders.fake", path, is_package=False)
    source = "\n".join(
        [
            "import aiohttp.web",  # 1
            "from batchport import run",  # 2
            "def f():",  # 3
            "    import sqlite3",  # 4
            "    from ..app import control",  # 5
            "    return importlib.import_module('batchport.store')",  # 6
            "async def g():",  # 7
            "    import_module('.forward', package='batchport_emulator.responders')",  # 8
            "    __import__('json')",  # 9
            "    importlib.import_module(name)",  # 10: computed, not checkable
            "from . import base",  # 11
        ]
    )
    seen = {(i.line, i.name) for i in imports_in(module, source)}
    assert seen == {
        (1, "aiohttp.web"),
        (2, "batchport"),
        (2, "batchport.run"),
        (4, "sqlite3"),
        (5, "batchport_emulator.app"),
        (5, "batchport_emulator.app.control"),
        (6, "batchport.store"),
        (8, "batchport_emulator.responders.forward"),
        (9, "json"),
        (11, "batchport_emulator.responders.base"),
    }
    assert not within("batchport_emulator.state", ("batchport",))


def test_the_emulator_never_imports_the_library() -> None:
    found = violations(EMULATOR, forbidden=("batchport",))
    assert not found, report(found)


def test_emulator_state_never_imports_aiohttp() -> None:
    found = violations(EMULATOR, forbidden=("aiohttp",), exempt=AIOHTTP_ALLOWED)
    assert not found, report(found)


def test_emulator_state_never_imports_the_http_layer() -> None:
    state = [m for m in EMULATOR if m.name != FACADE]
    found = violations(state, forbidden=HTTP_LAYER, exempt=HTTP_LAYER)
    assert not found, report(found)


def test_only_the_store_imports_sqlite3() -> None:
    scope = MODULES
    found = violations(scope, forbidden=("sqlite3",), exempt=SQLITE_ALLOWED)
    assert not found, report(found)
