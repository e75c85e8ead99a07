"""Credentials in failure output (issue 17): every failure below ends in one line with exit 1 or 2,
no traceback, and none of the test's secrets in any form (plain, stripped, base64). The ``world``
fixture greps every line the CLI printed for ``world.secrets`` after each test."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import redact

PASSWORD = "s3cret-Pa55word"
TOKEN = "prom-token-9f8e7d6c5b4a"
GH_TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HEADER_SECRET = "hdr-secret-77aa88bb"


class _Echo(BaseHTTPRequestHandler):
    """A server that answers every request with an error quoting the request's headers back, as
    misconfigured proxies and some backends do."""

    status = 400

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        body = json.dumps({"status": "error", "errorType": "bad_data", "message": f"rejected request ({echoed})",
                           "error": f"rejected request ({echoed})"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _snapshot_cmd(world, url: str, env: dict[str, str] | None = None):
    return world.cli("snapshot", "--out", str(world.root / "measured.json"), "--prometheus-url", url,
                     "--kube-state-metrics", "--collection-budget", "20", env=env)


def _one_error_line(r) -> str:
    lines = [l for l in r.err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("rightsizer: error: "), r.err
    return lines[0]


@pytest.mark.parametrize("url,code", [
    # Invalid port and invalid scheme: the URL with its password used to be printed.
    (f"https://admin:{PASSWORD}@prom.example:99999/", 2),
    (f"htps://admin:{PASSWORD}@prom.example/", 2),
    (f"https://admin:{PASSWORD}@[::1/", 2),
    # A well-formed URL with userinfo is refused before any connection (credentials belong in
    # RIGHTSIZER_PROMETHEUS_USERNAME/PASSWORD, docs/connecting.md); the refusal names the host only.
    (f"http://admin:{PASSWORD}@127.0.0.1:1/", 2),
])
def test_prometheus_url_password_never_printed(world, url, code):
    world.secrets += [PASSWORD, f"admin:{PASSWORD}"]
    r = _snapshot_cmd(world, url)
    assert r.code == code, r.err
    _one_error_line(r)
    assert not (world.root / "measured.json").exists()


def test_prometheus_server_echoing_the_bearer_token_is_redacted(world, echo):
    world.secrets += [TOKEN]
    r = _snapshot_cmd(world, f"http://{echo}/", env={"RIGHTSIZER_PROMETHEUS_TOKEN": TOKEN + "\n"})
    assert r.code == 1
    line = _one_error_line(r)
    # The server's text is shown (it helps), with the credential masked.
    assert "rejected request" in line and "Authorization: ***" in line, line


def test_prometheus_server_echoing_basic_auth_is_redacted(world, echo):
    world.secrets += [PASSWORD, base64.b64encode(f"admin:{PASSWORD}".encode()).decode()]
    r = _snapshot_cmd(world, f"http://{echo}/", env={"RIGHTSIZER_PROMETHEUS_USERNAME": "admin",
                                                    "RIGHTSIZER_PROMETHEUS_PASSWORD": PASSWORD})
    assert r.code == 1 and "rejected request" in _one_error_line(r)


def test_prometheus_server_echoing_secret_headers_is_redacted(world, echo):
    world.secrets += [HEADER_SECRET]
    r = _snapshot_cmd(world, f"http://{echo}/", env={
        "RIGHTSIZER_PROMETHEUS_HEADERS": f"X-Scope-OrgID: tenant-1\nX-Custom-Key: {HEADER_SECRET}"})
    assert r.code == 1 and "rejected request" in _one_error_line(r)


@pytest.mark.parametrize("token", [f"{TOKEN[:8]}\n{TOKEN[8:]}", f"{TOKEN}\r\nX-Injected: 1"])
def test_token_that_cannot_be_a_header_is_one_line_not_a_traceback(world, echo, token):
    # requests raises InvalidHeader with the header value in its text.
    world.secrets += [TOKEN, TOKEN[:8], TOKEN[8:]]
    r = _snapshot_cmd(world, f"http://{echo}/", env={"RIGHTSIZER_PROMETHEUS_TOKEN": token})
    assert r.code in (1, 2)
    _one_error_line(r)


def test_github_token_with_newline_and_echoing_server(world, echo):
    """`run` against a GitHub API that echoes the Authorization header in its 4xx answers."""
    world.secrets += [GH_TOKEN]
    env = {"RIGHTSIZER_GITHUB_TOKEN": GH_TOKEN + "\n", "GITHUB_REPOSITORY": "octo/repo",
           "GITHUB_API_URL": f"http://{echo}", "GITHUB_ACTIONS": ""}
    r = world.cli("run", "--repo", str(world.repo), "--snapshot", str(world.snap), "--api-write-pause", "0", env=env)
    assert r.code == 1
    assert "400" in _one_error_line(r)


def test_redact_forms_and_patterns():
    """The one redaction step, on the shapes that leaked in issue 17."""
    secret = "tok-abc-123-xyz"
    redact.register(secret + "\n")
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    redact.register_basic("user", secret)
    samples = {
        f"header value {secret!r}": secret,  # Python's repr of the token with its newline: 'tok…\n'
        f"InvalidHeader: Invalid return character or leading space in header: Authorization ('Bearer {secret}\\n')": secret,
        f"Authorization: Basic {basic}": basic,
        f"GET https://user:{secret}@prom.example:9090/api": secret,
        f"plain {base64.b64encode(secret.encode()).decode()} base64": base64.b64encode(secret.encode()).decode().rstrip("="),
        f"echo: Authorization: token {GH_TOKEN}": GH_TOKEN,
        f"query ?password=hunter22&x=1": "hunter22",
        '{"token": "opaque-value-1234"}': "opaque-value-1234",
    }
    for text, leaked in samples.items():
        out = redact.redact(text)
        assert leaked not in out and redact.MASK in out, (text, out)
    # Ordinary text is left alone.
    assert redact.redact("cpu 250m → 200m on media/sonarr") == "cpu 250m → 200m on media/sonarr"


def test_pushgateway_failure_never_prints_its_credentials(world, echo):
    """The metrics push (a dry run, no GitHub): the gateway echoes the request headers in its error."""
    world.secrets += [PASSWORD, TOKEN, f"push:{PASSWORD}"]
    r = world.cli("run", "--repo", str(world.repo), "--snapshot", str(world.snap), "--dry-run",
                  "--pushgateway-url", f"http://push:{PASSWORD}@{echo}/",
                  env={"RIGHTSIZER_PUSHGATEWAY_TOKEN": TOKEN, "GITHUB_ACTIONS": ""})
    # A failed push is a warning (the run itself counts), with the gateway's text and no credential.
    assert r.code == 0 and "did not take the metrics (HTTP 400: " in r.text, r.text
