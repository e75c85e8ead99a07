"""A JSON Schema compiled to one Python predicate: a fast yes or no for the common case, a valid file.

jsonschema walks a schema for every value it checks and builds error objects on the way, which made it a
third of the CPU of a 20,000-container plan. Here each schema node is turned once into a closure that checks
only what that node says. The predicate never explains: on False the caller asks jsonschema for the first
error, so messages (file, line, field) come from one place only. tests/unit/test_compiled_schema.py holds
the two to the same answer on valid and broken snapshots.

Only the keywords our schemas use are compiled; any other raises Unsupported, so a schema that grows a new
keyword fails loudly in tests instead of being half-checked. Semantics follow Draft 2020-12 as jsonschema
implements it: booleans are not numbers, 1.0 is an integer, `format` is checked only where the caller
supplies a checker (jsonschema checks only the formats it has a library for).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

Check = Callable[[Any], bool]

IGNORED = {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}


class Unsupported(Exception):
    pass


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    "number": _is_number,
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer()),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it: true and 1 differ, 1 and 1.0 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


def compile_schema(schema: Mapping[str, Any], formats: Mapping[str, Check] | None = None) -> Check:
    """A predicate that is True exactly when jsonschema would find no error in the instance."""
    return _Compiler(schema, formats or {}).node(schema)


class _Compiler:
    def __init__(self, root: Mapping[str, Any], formats: Mapping[str, Check]):
        self.root = root
        self.formats = formats
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise Unsupported(f"$ref {ref!r}: only local references")
        if ref not in self.refs:
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            slot: list[Check] = []
            self.refs[ref] = lambda x: slot[0](x)  # only a reference met while compiling its own target keeps this hop
            slot.append(self.node(target))
            self.refs[ref] = slot[0]
        return self.refs[ref]

    def node(self, schema: Any) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        fused = _fused(self, schema)
        if fused is not None:
            return fused
        checks: list[Check] = []
        for key, value in schema.items():
            if key in IGNORED:
                continue
            method = getattr(self, "kw_" + key.replace("$", ""), None)
            if method is None:
                raise Unsupported(f"keyword {key!r}")
            check = method(value, schema)
            if check is not None:
                checks.append(check)
        if not checks:
            return lambda x: True
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:  # the common case (a type and its properties): no loop, no generator
            first, second = checks
            return lambda x: first(x) and second(x)

        def every(x: Any) -> bool:
            for c in checks:
                if not c(x):
                    return False
            return True

        return every

    # --- keywords (each returns a check, or None when it adds nothing) ---

    def kw_ref(self, value: str, _: Any) -> Check:
        return self.ref(value)

    def kw_type(self, value: str | list[str], _: Any) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        tests = [_TYPES[n] for n in names]
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(t(x) for t in tests)

    def kw_const(self, value: Any, _: Any) -> Check:
        return lambda x: _equal(x, value)

    def kw_enum(self, values: list[Any], _: Any) -> Check:
        if all(isinstance(v, str) for v in values):
            allowed = frozenset(values)
            return lambda x: isinstance(x, str) and x in allowed
        return lambda x: any(_equal(x, v) for v in values)

    def kw_required(self, keys: list[str], _: Any) -> Check:
        return lambda x: not isinstance(x, dict) or all(k in x for k in keys)

    def kw_properties(self, _: Mapping[str, Any], schema: Any) -> Check:
        compiled, rest = self.properties(schema)
        return lambda x: not isinstance(x, dict) or _properties_hold(x, compiled, rest)

    def properties(self, schema: Mapping[str, Any]) -> tuple[dict[str, Check], Check | None]:
        """Each property's check, and the check of any other key (None: anything goes)."""
        extra = schema.get("additionalProperties", True)
        return {k: self.node(v) for k, v in schema["properties"].items()}, None if extra is True else self.node(extra)

    def kw_additionalProperties(self, value: Any, schema: Any) -> Check | None:
        if "properties" in schema or value is True:
            return None  # checked with the properties
        rest = self.node(value)
        return lambda x: not isinstance(x, dict) or all(rest(v) for v in x.values())

    def kw_items(self, value: Any, _: Any) -> Check:
        item = self.node(value)

        def check(x: Any) -> bool:
            if isinstance(x, list):
                for v in x:
                    if not item(v):
                        return False
            return True

        return check

    def kw_oneOf(self, schemas: list[Any], _: Any) -> Check:
        options = [self.node(o) for o in schemas]
        return lambda x: sum(1 for o in options if o(x)) == 1

    def kw_anyOf(self, schemas: list[Any], _: Any) -> Check:
        options = [self.node(o) for o in schemas]
        return lambda x: any(o(x) for o in options)

    def kw_minProperties(self, n: int, _: Any) -> Check:
        return lambda x: not isinstance(x, dict) or len(x) >= n

    def kw_minItems(self, n: int, _: Any) -> Check:
        return lambda x: not isinstance(x, list) or len(x) >= n

    def kw_maxItems(self, n: int, _: Any) -> Check:
        return lambda x: not isinstance(x, list) or len(x) <= n

    def kw_uniqueItems(self, unique: bool, _: Any) -> Check | None:
        if not unique:
            return None
        return lambda x: not isinstance(x, list) or not any(_json_equal(a, b) for i, a in enumerate(x) for b in x[i + 1:])

    def kw_minLength(self, n: int, _: Any) -> Check:
        return lambda x: not isinstance(x, str) or len(x) >= n

    def kw_maxLength(self, n: int, _: Any) -> Check:
        return lambda x: not isinstance(x, str) or len(x) <= n

    def kw_minimum(self, n: float, _: Any) -> Check:
        return lambda x: not _is_number(x) or not x < n  # as jsonschema: NaN passes

    def kw_maximum(self, n: float, _: Any) -> Check:
        return lambda x: not _is_number(x) or not x > n

    def kw_pattern(self, pattern: str, _: Any) -> Check:
        search = re.compile(pattern).search
        return lambda x: not isinstance(x, str) or search(x) is not None

    def kw_format(self, name: str, _: Any) -> Check | None:
        conforms = self.formats.get(name)
        return None if conforms is None else conforms


# The two shapes that are nearly every node of a snapshot, each checked by one function instead of a chain of
# one closure per keyword: {"type": "number"|"integer", "minimum"?, "maximum"?} and
# {"type": "object", "required"?, "properties", "additionalProperties"?}.
_NUMBER_KEYS = {"type", "minimum", "maximum"}
_OBJECT_KEYS = {"type", "required", "properties", "additionalProperties"}


def _fused(compiler: "_Compiler", schema: Mapping[str, Any]) -> Check | None:
    keys = {k for k in schema if k not in IGNORED}
    kind = schema.get("type")
    if kind in ("number", "integer") and keys <= _NUMBER_KEYS:
        return _number(kind == "integer", schema.get("minimum"), schema.get("maximum"))
    if kind == "object" and "properties" in keys and keys <= _OBJECT_KEYS:
        return _object(tuple(schema.get("required", ())), *compiler.properties(schema))
    return None


def _number(integer: bool, low: float | None, high: float | None) -> Check:
    whole = _TYPES["integer"]

    def check(x: Any) -> bool:
        t = type(x)
        if not (t is float or t is int or (isinstance(x, (int, float)) and not isinstance(x, bool))):
            return False
        if integer and not whole(x):
            return False
        # as jsonschema: NaN passes both bounds
        return not ((low is not None and x < low) or (high is not None and x > high))

    return check


def _object(required: tuple[str, ...], compiled: dict[str, Check], rest: Check | None) -> Check:
    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return False
        for k in required:
            if k not in x:
                return False
        return _properties_hold(x, compiled, rest)

    return check


def _properties_hold(x: dict, compiled: dict[str, Check], rest: Check | None) -> bool:
    for k, v in x.items():
        c = compiled.get(k, rest)
        if c is not None and not c(v):
            return False
    return True


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: true is not 1, 1.0 is 1, objects and arrays compare by content."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return a == b
