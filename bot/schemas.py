"""Where the JSON Schemas and presets live, in a checkout and in an installed wheel."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema


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
