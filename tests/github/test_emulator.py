"""The emulator's contract check is real: requests or responses that break GitHub's OpenAPI
description are caught, so a green test means the bot spoke GitHub's documented language."""

from __future__ import annotations

import requests

from .support import TOKEN


def call(github, method: str, path: str, body=None):
    return requests.request(method, github.base_url + path, json=body, timeout=10,
                            headers={"Authorization": f"token {TOKEN}"})


def test_bad_request_body_is_a_violation(github):
    r = call(github, "PATCH", "/repos/octo-org/octo-repo/git/refs/heads/main", {"force": True})  # no sha
    assert r.status_code >= 400
    assert any("'sha' is a required property" in v for v in github.violations)
    github.violations.clear()  # expected here; the fixture would fail the test otherwise


def test_undocumented_operation_is_a_violation(github):
    call(github, "POST", "/repos/octo-org/octo-repo/frobnicate", {})
    assert any("not an operation" in v for v in github.violations)
    github.violations.clear()


def test_response_checking_catches_a_missing_field(github, spec):
    pr = {"url": "x"}  # a pull request without its required fields
    problems = spec.check_response("GET", "/repos/o/r/pulls/1", 200, pr)
    assert any("'number' is a required property" in p for p in problems)
    assert spec.check_response("GET", "/repos/o/r/pulls/1", 418, {}) != []


def test_git_objects_are_real(github, origin):
    # Blob ids from the API are git's own ids: `printf 'hello\n' | git hash-object --stdin`.
    r = call(github, "POST", "/repos/octo-org/octo-repo/git/blobs", {"content": "aGVsbG8K", "encoding": "base64"})
    assert r.status_code == 201 and r.json()["sha"] == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert github.git("cat-file", "-p", r.json()["sha"]) == "hello"


def test_unauthenticated_requests_are_refused(github):
    r = requests.get(github.base_url + "/repos/octo-org/octo-repo", timeout=10)
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
