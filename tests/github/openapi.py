"""GitHub's official REST description (npm ``@octokit/openapi``) as a request/response validator.

The emulator calls :meth:`Spec.check_request` and :meth:`Spec.check_response` on every
exchange; a mismatch is recorded as a violation and fails the test that caused it.

OpenAPI 3.0 schemas are JSON Schema draft 4 plus ``nullable``; we rewrite ``nullable: true``
into an explicit ``null`` alternative once, then validate with jsonschema's Draft 4 validator
against the whole document so ``#/components/...`` references resolve.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

NPM_DIR = Path(__file__).resolve().parent / ".npm" / "node_modules" / "@octokit"
SPEC_PATH = NPM_DIR / "openapi" / "generated" / "api.github.com.json"
EXAMPLES_PATH = NPM_DIR / "webhooks-examples" / "api.github.com" / "index.json"
_URI = "urn:github-openapi"


def _denullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _denullable(v) for k, v in node.items()}
        if out.pop("nullable", False) is True:
            t = out.get("type")
            if isinstance(t, str) and "enum" not in out:
                out["type"] = [t, "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_denullable(v) for v in node]
    return node


def _ambiguous_one_of(error: jsonschema.ValidationError) -> bool:
    """GitHub's description uses ``oneOf`` for alternatives that are not exclusive (an event's
    ``payload``: ``public-event`` requires nothing, so every payload also matches it). Matching
    more than one documented alternative is what GitHub itself answers; matching none is still
    an error."""
    return error.validator == "oneOf" and "is valid under each of" in error.message


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    op: dict[str, Any]


class Spec:
    def __init__(self, doc: dict[str, Any]):
        self.doc = _denullable(doc)
        self.registry = Registry().with_resource(
            _URI, Resource.from_contents(self.doc, default_specification=DRAFT4)
        )
        self.operations: list[Operation] = []
        for template, item in self.doc["paths"].items():
            # Literal segments outrank parameters: sort so /git/refs/{ref} never shadows a literal.
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            if template.endswith("/{ref}") or "{ref}" in template:
                regex = regex.replace("([^/]+)$", "(.+)$") if template.endswith("{ref}") else regex
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    self.operations.append(Operation(method.upper(), template, re.compile(regex), op))
        self.operations.sort(key=lambda o: (o.template.count("{"), -len(o.template)))

    def find(self, method: str, path: str) -> Operation:
        for o in self.operations:
            if o.method == method and o.pattern.match(path):
                return o
        raise KeyError(f"{method} {path} is not an operation in GitHub's REST description")

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.registry.resolver(_URI).lookup(node["$ref"]).contents
        return node

    def _validate(self, instance: Any, pointer: str) -> list[str]:
        validator = jsonschema.Draft4Validator({"$ref": f"{_URI}#{pointer}"}, registry=self.registry)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)
            if not _ambiguous_one_of(e)
        ]

    def check_request(self, method: str, path: str, body: Any) -> list[str]:
        o = self.find(method, path)
        rb = o.op.get("requestBody")
        if rb is None:
            return [] if body is None else [f"{method} {o.template} takes no body"]
        rb = self._resolve(rb)
        if body is None:
            return [f"{method} {o.template}: missing request body"] if rb.get("required") else []
        ptr = f"/paths/{_escape(o.template)}/{method.lower()}/requestBody/content/application~1json/schema"
        if "$ref" in o.op["requestBody"]:
            return ["request body by $ref not supported"]
        return [f"request {method} {o.template}: {e}" for e in self._validate(body, ptr)]

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        o = self.find(method, path)
        responses = o.op.get("responses", {})
        if str(status) not in responses:
            return [f"{method} {o.template}: status {status} not documented ({sorted(responses)})"]
        resp = self._resolve(responses[str(status)])
        content = resp.get("content", {}).get("application/json")
        if content is None:
            return [] if body in (None, b"", "") else [f"{method} {o.template} {status}: body not documented"]
        # Point at the schema wherever it lives (inline or behind components/responses).
        raw = responses[str(status)]
        if "$ref" in raw:
            ptr = raw["$ref"][1:] + "/content/application~1json/schema"
        else:
            ptr = f"/paths/{_escape(o.template)}/{method.lower()}/responses/{status}/content/application~1json/schema"
        return [f"response {method} {o.template} {status}: {e}" for e in self._validate(body, ptr)]

    def example(self, name: str) -> Any:
        """A documented example object (components/examples/<name>), as a template for responses."""
        return json.loads(json.dumps(self.doc["components"]["examples"][name]["value"]))


@lru_cache(maxsize=1)
def load_spec() -> Spec:
    return Spec(json.loads(SPEC_PATH.read_text()))


@lru_cache(maxsize=1)
def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES_PATH.read_text())}
