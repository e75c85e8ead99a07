"""Where the JSON Schemas and presets live, in a checkout and in an installed wheel."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema

from bot.quantity import not_a_quantity


def policies_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_policies", here.parent / "policies"):
        if (candidate / "policy.schema.json").is_file():
            return candidate
    raise FileNotFoundError("rightsizer's policies/ folder is missing from this installation")


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((policies_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


_QUANTITY_DEFS = {"cpuQuantity": "cpu", "memoryQuantity": "memory", "quantity": None}


def error_message(name: str, err: jsonschema.ValidationError) -> str:
    """A schema error's message, except for a quantity its pattern refused: there the raw regex helps
    nobody, and the likely fix ("7GB": did you mean 7G or 7Gi?) does."""
    if err.validator == "pattern" and isinstance(err.instance, str):
        defs = validator(name).schema.get("$defs", {})
        for key, resource in _QUANTITY_DEFS.items():
            if key in defs and defs[key] == err.schema:
                field = err.absolute_path[-1] if err.absolute_path else None
                return not_a_quantity(err.instance, resource or (field if field in ("cpu", "memory") else None))
    return err.message
