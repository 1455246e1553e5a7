"""Fake JSON instances that validate against a JSON Schema.

``compile_schema`` turns a schema into a tree of small generator closures
once (cached by the schema's canonical JSON), and ``SchemaFaker.generate``
walks it with a seeded ``random.Random``. Supported: objects (all properties,
``required``, ``additionalProperties``, ``minProperties``), ``$ref`` into
``$defs``/``definitions`` or ``#``, ``anyOf``/``oneOf``/``allOf``, ``enum``,
``const``, type lists and ``nullable``, arrays (``items``, ``prefixItems``,
``minItems``/``maxItems``, ``uniqueItems``), strings (``format``,
``pattern``, lengths), numbers and integers (bounds, ``multipleOf``).
Recursion is cut at ``max_depth``: past it, only required properties, the
fewest array items and non-recursive ``anyOf`` branches are generated.

Every instance is bounded: at most :data:`MAX_NODES` array items and object members
in all (past that, arrays and objects come out shorter than ``minItems`` /
``minProperties`` ask, so a pathological schema such as three nested ``minItems:
300`` arrays gets a small, invalid instance instead of blocking the server), and
their strings at :data:`MAX_CHARS` characters in all (one string at
:data:`~.strings.MAX_STRING`).
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import orjson

from .strings import format_string, pattern_string, sized_words

__all__ = ["MAX_CHARS", "MAX_NODES", "SchemaFaker", "compile_schema"]

Gen = Callable[[random.Random, int], Any]
"""A compiled schema node: (rng, depth) -> JSON value."""

_CACHE: OrderedDict[tuple[bytes, int, int], SchemaFaker] = OrderedDict()
_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()  # fakes may run on worker threads
#: array items plus object members one generated instance may hold
MAX_NODES = 20_000


#: characters in all of one instance's strings
MAX_CHARS = 250_000


class _Budget:
    __slots__ = ("chars", "left")

    def __init__(self, left: int, chars: int) -> None:
        self.left = left
        self.chars = chars


_BUDGET: ContextVar[_Budget | None] = ContextVar("schema_budget", default=None)


def _take(wanted: int) -> int:
    """How many of ``wanted`` nodes the current instance may still have."""
    budget = _BUDGET.get()
    if budget is None:
        return wanted
    granted = max(0, min(wanted, budget.left))
    budget.left -= granted
    return granted


_OBJECT_KEYS = ("properties", "required", "additionalProperties", "minProperties")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems")
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_KEYS = ("pattern", "format", "minLength", "maxLength")


class SchemaFaker:
    """A compiled schema; ``generate(rng)`` returns one valid instance."""

    def __init__(self, schema: Any, *, array_items: int = 2, max_depth: int = 8) -> None:
        self._root = schema
        self._array_items = array_items
        self.max_depth = max_depth
        # Past this depth even required recursion is cut (a schema whose only
        # instances are infinite has no valid answer anyway).
        self._hard_depth = max_depth * 2 + 16
        self._refs: dict[str, Gen] = {}
        self._gen, _ = self._compile(schema)

    def generate(self, rng: random.Random, share: int = 1) -> Any:
        """One instance; deterministic for a given ``rng`` state, at most
        :data:`MAX_NODES` array items and object members, :data:`MAX_CHARS` characters.

        ``share`` splits those budgets between the instances of one answer (the
        ``n`` choices of a chat completion), so the whole answer stays bounded."""
        share = max(1, share)
        token = _BUDGET.set(_Budget(max(1, MAX_NODES // share), max(16, MAX_CHARS // share)))
        try:
            return self._gen(rng, 0)
        finally:
            _BUDGET.reset(token)

    # -- compilation -------------------------------------------------------

    def _compile(self, schema: Any) -> tuple[Gen, bool]:
        """Compile ``schema``; the flag says whether it can recurse (has a $ref)."""
        if schema is True or schema is None or schema == {}:
            return _constant("value"), False
        if schema is False or not isinstance(schema, Mapping):
            return _constant(None), False
        if "$ref" in schema:
            return self._compile_ref(schema["$ref"]), True
        if "const" in schema:
            return _constant(schema["const"]), False
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            values = list(schema["enum"])
            return (lambda rng, depth: rng.choice(values)), False
        if "allOf" in schema and isinstance(schema["allOf"], list):
            return self._compile(self._merge_all_of(schema))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self._compile_choice([self._compile(s) for s in schema[key]], schema[key])
        kind = schema.get("type")
        if isinstance(kind, list):
            branches = [{**schema, "type": t} for t in kind]
            return self._compile_choice([self._compile(b) for b in branches], branches)
        if kind is None:
            kind = _infer_type(schema)
        if kind == "object":
            return self._compile_object(schema)
        if kind == "array":
            return self._compile_array(schema)
        if kind in ("integer", "number"):
            return _compile_number(schema, integer=kind == "integer"), False
        if kind == "string":
            return _compile_string(schema), False
        if kind == "boolean":
            return (lambda rng, depth: rng.random() < 0.5), False
        return _constant(None), False

    def _compile_ref(self, ref: Any) -> Gen:
        key = str(ref)
        if key not in self._refs:
            self._refs[key] = _constant(None)  # placeholder while compiling cycles
            self._refs[key] = self._compile(self._resolve(key))[0]
        refs = self._refs
        return lambda rng, depth: refs[key](rng, depth + 1)

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}  # remote references are not fetched
        node: Any = self._root
        for raw in ref[1:].split("/"):
            if not raw:
                continue
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _merge_all_of(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            seen = 0
            while isinstance(sub, Mapping) and "$ref" in sub and seen < 8:
                sub, seen = self._resolve(str(sub["$ref"])), seen + 1
            if not isinstance(sub, Mapping):
                continue
            for key, value in sub.items():
                if key == "properties" and isinstance(value, Mapping):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _compile_choice(self, compiled: list[tuple[Gen, bool]], raw: list[Any]) -> tuple[Gen, bool]:
        nulls = [i for i, s in enumerate(raw) if isinstance(s, Mapping) and s.get("type") == "null"]
        preferred = [g for i, (g, _) in enumerate(compiled) if i not in nulls] or [compiled[0][0]]
        safe = [g for i, (g, rec) in enumerate(compiled) if i in nulls or not rec]
        fallback = safe[0] if safe else compiled[0][0]
        if nulls:
            fallback = compiled[nulls[0]][0]
        max_depth = self.max_depth

        def gen(rng: random.Random, depth: int) -> Any:
            if depth >= max_depth:
                return fallback(rng, depth)
            return rng.choice(preferred)(rng, depth)

        return gen, any(rec for _, rec in compiled)

    def _compile_object(self, schema: Mapping[str, Any]) -> tuple[Gen, bool]:
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = schema.get("required")
        required_set = set(required) if isinstance(required, list) else set()
        extra_schema = schema.get("additionalProperties", True)
        allow_extra = extra_schema is not False
        extra_gen, extra_rec = self._compile(
            extra_schema if isinstance(extra_schema, Mapping) else {}
        )
        fields: list[tuple[str, Gen, bool]] = []
        recursive = False
        for name, sub in props.items():
            field_gen, rec = self._compile(sub)
            fields.append((name, field_gen, name in required_set))
            recursive = recursive or rec
        for name in sorted(required_set - set(props)):
            fields.append((name, extra_gen, True))  # required but undeclared
        min_props = schema.get("minProperties", 0)
        min_props = min_props if isinstance(min_props, int) else 0
        max_depth, hard = self.max_depth, self._hard_depth

        def gen(rng: random.Random, depth: int) -> Any:
            if depth > hard:
                return None
            shallow = depth >= max_depth
            chosen = [(name, g) for name, g, req in fields if req or not shallow]
            out = {name: g(rng, depth + 1) for name, g in chosen[: _take(len(chosen))]}
            index = 0
            while allow_extra and len(out) < min_props and _take(1):
                out.setdefault(f"key_{index}", extra_gen(rng, depth + 1))
                index += 1
            return out

        return gen, recursive or extra_rec

    def _compile_array(self, schema: Mapping[str, Any]) -> tuple[Gen, bool]:
        prefix_raw = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix_raw, items = items, schema.get("additionalItems", {})
        prefix = [self._compile(s) for s in prefix_raw] if isinstance(prefix_raw, list) else []
        item_gen, item_rec = self._compile(items if items is not False else {})
        low = max(_int(schema.get("minItems"), 0), 0)
        high = _int(schema.get("maxItems"), None)
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        preferred = max(low, self._array_items, len(prefix))
        count = preferred if high is None else max(min(preferred, high), low)
        unique = schema.get("uniqueItems") is True
        enum = items.get("enum") if isinstance(items, Mapping) else None
        max_depth, hard = self.max_depth, self._hard_depth

        def gen(rng: random.Random, depth: int) -> Any:
            if depth > hard:
                return []
            n = _take(low if depth >= max_depth else count)
            out = [g(rng, depth + 1) for g, _ in prefix[:n]]
            if unique and isinstance(enum, list):
                pool = [v for v in enum if v not in out]
                rng.shuffle(pool)
                return out + pool[: n - len(out)]
            attempts = (n - len(out)) * 4 if unique else n - len(out)
            keys = {orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in out} if unique else None
            while len(out) < n and attempts > 0:
                attempts -= 1
                value = item_gen(rng, depth + 1)
                if keys is not None:
                    key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
                    if key in keys:
                        continue
                    keys.add(key)
                out.append(value)
            return out

        return gen, item_rec or any(rec for _, rec in prefix)


def _constant(value: Any) -> Gen:
    return lambda rng, depth: value


def _int(value: Any, default: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _infer_type(schema: Mapping[str, Any]) -> str:
    for kind, keys in (
        ("object", _OBJECT_KEYS),
        ("array", _ARRAY_KEYS),
        ("number", _NUMBER_KEYS),
        ("string", _STRING_KEYS),
    ):
        if any(key in schema for key in keys):
            return kind
    return "string"


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low_exclusive, high, high_exclusive) across JSON Schema drafts."""
    low, high = schema.get("minimum"), schema.get("maximum")
    low_x = high_x = False
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True:  # draft 4: a flag on minimum
        low_x = True
    elif isinstance(ex_low, (int, float)) and (low is None or ex_low >= low):
        low, low_x = ex_low, True
    if ex_high is True:
        high_x = True
    elif isinstance(ex_high, (int, float)) and (high is None or ex_high <= high):
        high, high_x = ex_high, True
    low = low if isinstance(low, (int, float)) and not isinstance(low, bool) else None
    high = high if isinstance(high, (int, float)) and not isinstance(high, bool) else None
    return low, low_x, high, high_x


def _compile_number(schema: Mapping[str, Any], *, integer: bool) -> Gen:
    low, low_x, high, high_x = _bounds(schema)
    if low is None:
        low, low_x = (0 if high is None or high >= 0 else high - 100), False
    if high is None:
        high, high_x = low + 100, False
    step = schema.get("multipleOf")
    step = step if isinstance(step, (int, float)) and step > 0 else (1 if integer else None)
    if step is not None:
        if integer and step != int(step):
            step = 1
        try:
            first = math.floor(low / step) + 1 if low_x else math.ceil(low / step)
            last = math.ceil(high / step) - 1 if high_x else math.floor(high / step)
        except (OverflowError, ValueError):  # a multipleOf too small for floats
            first = last = 0
        last = max(first, last)
        if integer:
            return lambda rng, depth: int(rng.randint(first, last) * step)
        return lambda rng, depth: round(rng.randint(first, last) * step, 10)
    span = high - low

    def gen(rng: random.Random, depth: int) -> Any:
        # Stay strictly inside the bounds and off whole numbers, so a "number"
        # branch never also matches an "integer" branch of a oneOf.
        value = round(low + span * (0.1 + 0.8 * rng.random()), 2)
        if not (low < value < high) or value == int(value):
            value = low + span * 0.37
        return float(value)

    return gen


def _compile_string(schema: Mapping[str, Any]) -> Gen:
    low = max(_int(schema.get("minLength"), 0), 0)
    high = _int(schema.get("maxLength"), None)
    pattern, fmt = schema.get("pattern"), schema.get("format")

    def gen(rng: random.Random, depth: int) -> Any:
        text = _string(rng, low, high)
        budget = _BUDGET.get()
        if budget is not None:
            text = text[: max(budget.chars, 0)]
            budget.chars -= len(text)
        return text

    def _string(rng: random.Random, low: int, high: int | None) -> str:
        budget = _BUDGET.get()
        if budget is not None and budget.chars < max(low, 1):
            return "x" * max(budget.chars, 0)  # out of characters: short, maybe invalid
        if isinstance(pattern, str):
            text = pattern_string(pattern, rng, low, high)
            if text is not None:
                return text
        if isinstance(fmt, str):
            text = format_string(fmt, rng)
            if text is not None and len(text) >= low and (high is None or len(text) <= high):
                return text
        return sized_words(rng, low, high)

    return gen


def compile_schema(schema: Any, *, array_items: int = 2, max_depth: int = 8) -> SchemaFaker:
    """The compiled faker for ``schema``, from a small LRU cache keyed by the
    schema's canonical JSON (so equal schemas in different rows compile once)."""
    try:
        key = (orjson.dumps(schema, option=orjson.OPT_SORT_KEYS), array_items, max_depth)
    except TypeError:
        return SchemaFaker(schema, array_items=array_items, max_depth=max_depth)
    with _CACHE_LOCK:
        faker = _CACHE.get(key)
    if faker is None:
        faker = SchemaFaker(schema, array_items=array_items, max_depth=max_depth)
        with _CACHE_LOCK:
            _CACHE[key] = faker
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return faker
