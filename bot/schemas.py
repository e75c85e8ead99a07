"""Where the JSON Schemas and presets live, in a checkout and in an installed wheel."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bot.quantity import not_a_quantity

if TYPE_CHECKING:
    import jsonschema


def policies_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_policies", here.parent / "policies"):
        if (candidate / "policy.schema.json").is_file():
            return candidate
    raise FileNotFoundError("rightsizer's policies/ folder is missing from this installation")


@lru_cache(maxsize=None)
def _schema(name: str) -> dict[str, Any]:
    return json.loads((policies_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema  # only to explain an error, or for the schemas without a compiled check

    schema = _schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=format_checker())


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time, as the schemas' ``format: date-time`` means (jsonschema checks this
    format only when an optional package is installed; we never want it skipped)."""
    if not isinstance(value, str):
        return True  # formats constrain strings only; the type keyword handles the rest
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    return True


def format_checker() -> jsonschema.FormatChecker:
    import jsonschema

    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(is_date_time)
    return checker


# The formats the validator checks (format_checker): ours use only date-time, always checked (issue 17).
COMPILED_FORMATS: dict[str, Callable[[Any], bool]] = {"date-time": is_date_time}


@lru_cache(maxsize=None)
def _compiled(name: str) -> Callable[[Any], bool]:
    from bot.compiled_schema import compile_schema

    return compile_schema(_schema(name), COMPILED_FORMATS)


def is_valid(name: str, instance: Any) -> bool:
    """True when the instance holds to the schema: the compiled check, which agrees with jsonschema's
    ``iter_errors`` being empty; ask ``validator(name)`` for the error when it is False."""
    return _compiled(name)(instance)


_QUANTITY_DEFS = {"cpuQuantity": "cpu", "memoryQuantity": "memory", "quantity": None}


def error_message(name: str, err: jsonschema.ValidationError) -> str:
    """A schema error's message, except for a quantity its pattern refused: there the raw regex helps
    nobody, and the likely fix ("7GB": did you mean 7G or 7Gi?) does."""
    if err.validator == "pattern" and isinstance(err.instance, str):
        defs = validator(name).schema.get("$defs", {})
        if "name" in defs and err.schema.get("pattern") == defs["name"]["pattern"]:
            return (f"{err.instance[:80]!r} is not a Kubernetes name (letters, digits, '-', '.' or ':', "
                    "starting and ending with a letter or digit)")
        for key, resource in _QUANTITY_DEFS.items():
            if key in defs and defs[key] == err.schema:
                field = err.absolute_path[-1] if err.absolute_path else None
                return not_a_quantity(err.instance, resource or (field if field in ("cpu", "memory") else None))
    return err.message
