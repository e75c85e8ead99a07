"""Faults of the Prometheus connection, each against a real server of the kind that causes it: one line,
exit 1 (or 2 for bad input), never a traceback, never a credential in the output."""

from __future__ import annotations

import http.server
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.sources.collect import collect_snapshot
from bot.sources.prometheus import PrometheusClient, PrometheusConfig, Scope, SourceError
from tests.fixtures.prometheus.server import build_tsdb, free_port, require_prometheus, running_prometheus
from tests.github.test_workflows import ACTION, GITHUB_BASH, _step_env, load
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
OK = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    return subprocess.run([sys.executable, "-m", "bot", "snapshot", "--out", "/nonexistent/never-written.json",
                           "--collection-budget", "20", *args],
                          capture_output=True, text=True, env={**base, **(env or {})}, timeout=120)


def one_line_failure(r: subprocess.CompletedProcess, code: int = 1) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    # "rightsizer: error: …" from the command, "rightsizer snapshot: error: …" from argparse.
    errors = [line for line in r.stderr.splitlines() if re.match(r"rightsizer( \w+)?: error:", line)]
    assert len(errors) == 1, r.stderr
    return errors[0]


class Server(http.server.ThreadingHTTPServer):
    """A local HTTP(S) server whose handler answers every POST/GET with ``answer(handler)``."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer(self)

            do_GET = do_POST

        super().__init__(("127.0.0.1", free_port()), Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def _ok(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(OK)))
    h.end_headers()
    h.wfile.write(OK)


def test_a_connection_cut_mid_answer_is_one_line():
    # The header promises 1,000 bytes of chunked body; the server closes after a few: requests raises
    # ChunkedEncodingError, which is retried and then reported.
    def cut(h):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.write(b"3e8\r\n{\"status\":")
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)

    with Server(cut) as s:
        line = one_line_failure(cli("--prometheus-url", s.url(), "--kube-state-metrics"))
    assert "was cut off (ChunkedEncodingError)" in line


def test_any_other_requests_error_is_one_line():
    # A server that redirects to itself forever: requests gives up with TooManyRedirects (not a connection
    # error, not a timeout): the catch-all names it.
    def loop(h):
        h.send_response(307)
        h.send_header("Location", h.path)
        h.send_header("Content-Length", "0")
        h.end_headers()

    with Server(loop) as s:
        line = one_line_failure(cli("--prometheus-url", s.url(), "--kube-state-metrics"))
    assert line.endswith(f"request to {s.url()} failed: TooManyRedirects")


@pytest.mark.parametrize("url, says", [
    ("127.0.0.1:9090", "must start with http:// or https://"),
    ("prometheus:9090/api", "must start with http:// or https://"),
    ("https://admin:hunter2-secret@prometheus.example:9090", "holds credentials: give https://prometheus.example:9090"),
    ("https://token-only-xyz@prometheus.example", "holds credentials"),
    ("http://prometheus:99999", "port"),
])
def test_a_url_that_cannot_be_used_is_an_input_error(url, says):
    line = one_line_failure(cli("--prometheus-url", url), code=2)
    assert "--prometheus-url" in line and says in line
    assert "hunter2" not in line and "admin" not in line and "token-only-xyz" not in line


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command."""
    d = tmp_path_factory.mktemp("tls")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext")
    # Another CA, as a REQUESTS_CA_BUNDLE that does not know the server's CA.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=other CA")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    with Server(_ok, tls=ctx) as s:
        yield s.url("https"), d


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_flag_wins_over_the_environment(tls, variable):
    url, d = tls
    bad_env = {variable: str(d / "other.pem")}
    client = lambda cfg: PrometheusClient(cfg)  # noqa: E731
    os.environ[variable] = str(d / "other.pem")
    try:
        # --prometheus-ca names the right CA: it is used although the environment names another one
        assert client(PrometheusConfig(url, ca_file=str(d / "ca.pem"))).query("up", cd.END) == []
        # --prometheus-insecure: no verification at all, whatever the environment says
        assert client(PrometheusConfig(url, insecure=True)).query("up", cd.END) == []
        # neither flag: the environment's CA is used, and it does not know this server
        with pytest.raises(SourceError, match="certificate"):
            client(PrometheusConfig(url, retries=0)).query("up", cd.END)
    finally:
        del os.environ[variable]
    line = one_line_failure(cli("--prometheus-url", url, "--kube-state-metrics", env=bad_env))
    assert "TLS certificate of " + url + " not accepted (certificate" in line and "--prometheus-ca" in line


def test_insecure_warns_once_not_per_query(tls):
    url, d = tls
    r = cli("--prometheus-url", url, "--kube-state-metrics", "--prometheus-insecure", env={"REQUESTS_CA_BUNDLE": str(d / "other.pem")})
    # The server answers every query with an empty vector: the run gets through several queries and stops
    # at "no kube_node_status_allocatable series" — after one warning, not one per query.
    assert "no kube_node_status_allocatable series" in one_line_failure(r)
    assert r.stderr.count("not verified") == 1 and "InsecureRequestWarning" not in r.stderr


def test_timeout_is_a_flag():
    def slow(h):
        time.sleep(1.5)
        _ok(h)

    with Server(slow) as s:
        started = time.monotonic()
        line = one_line_failure(cli("--prometheus-url", s.url(), "--kube-state-metrics", "--prometheus-timeout", "0.3"))
        took = time.monotonic() - started
    assert "timed out after 0.3s (--prometheus-timeout)" in line
    assert took < 15  # 4 attempts of 0.3 s and backoff, not 4 × 30 s


@pytest.mark.parametrize("flag", ["--prometheus-timeout", "--collection-budget"])
def test_timeout_and_budget_must_be_positive(flag):
    # Refused by the flag's argparse type (bot/commands/argtypes.py) before anything connects.
    for value in ("0", "-5", "nan", "inf"):
        line = one_line_failure(cli("--prometheus-url", "http://127.0.0.1:1", flag, value), code=2)
        assert flag in line and repr(value) in line


def test_missing_kube_state_metrics_is_found_before_any_usage_query(tmp_path):
    # A server with cAdvisor's series and nothing of kube-state-metrics.
    require_prometheus()
    keep = ("container_memory_working_set_bytes", "container_cpu_usage_seconds_total", "# TYPE container_")
    text = "\n".join(l for l in cd.openmetrics(cd.make_pods()).splitlines() if l.startswith(keep)) + "\n# EOF\n"
    said = []
    with running_prometheus(build_tsdb(text, CACHE)) as url:
        client = PrometheusClient(PrometheusConfig(url))
        with pytest.raises(SourceError, match="no kube_node_status_allocatable series"):
            collect_snapshot(client, Scope("2d", "5m"), at=cd.END, progress=said.append)
    assert client.queries == 1  # one look for kube-state-metrics' node series, and nothing else
    assert not any(m.startswith(("cpu.", "memory.", "coverage")) for m in said)


def action_argv(tmp_path, inputs: dict[str, str]) -> list[str]:
    """The arguments the Action's run step gives `rightsizer`, executed as the runner does; the installed
    `rightsizer` is replaced by a script that records its arguments."""
    step = next(s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "run")
    venv_bin = tmp_path / "rightsizer-venv" / "bin"
    venv_bin.mkdir(parents=True)
    argv_file = tmp_path / "argv"
    (venv_bin / "rightsizer").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_file}\n')
    (venv_bin / "rightsizer").chmod(0o755)
    env = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path), **_step_env(step, inputs)}
    out = subprocess.run([*GITHUB_BASH, step["run"]], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return argv_file.read_text().splitlines()


def test_the_action_passes_timeout_budget_and_cluster_label(tmp_path):
    inputs = {"prometheus-url": "http://prometheus:9090", "prometheus-timeout": "12", "collection-budget": "600",
              "cluster-label": "cluster=home", "prometheus-insecure": "false"}
    args = build_parser().parse_args(action_argv(tmp_path, inputs))
    assert (args.prometheus_timeout, args.collection_budget, args.cluster_label) == (12.0, 600.0, "cluster=home")
    assert {"prometheus-timeout", "collection-budget", "cluster-label"} <= set(load(ACTION)["inputs"])


def test_the_action_defaults_pass_no_measurement_flag_with_a_snapshot(tmp_path):
    # With `snapshot` set and the new inputs left at their defaults, the step must not pass --collection-budget
    # (a measurement flag the CLI refuses next to --snapshot); the timeout's empty default passes nothing either.
    from bot.commands.snapshot import refuse_measurement_flags_with_snapshot

    defaults = {name: str(spec.get("default", "")) for name, spec in load(ACTION)["inputs"].items()}
    argv = action_argv(tmp_path, {**defaults, "snapshot": "snapshot.json", "prometheus-url": "http://prometheus:9090"})
    assert "--collection-budget" not in argv and "--prometheus-timeout" not in argv, argv
    refuse_measurement_flags_with_snapshot(build_parser().parse_args(argv))  # raises if any were passed
