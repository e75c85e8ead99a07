"""One redaction step for everything the bot prints: no credential reaches a log.

GitHub Actions masks the secrets it knows, line by line and verbatim; it does not know a
password inside a URL, a token's base64 form in a Basic header, a token with a trailing
newline as Python prints it (``'tok\\n'``), or what a server echoes back in an error. So
every line the bot writes to stdout/stderr (and every exception text it sends as a PR
comment) goes through ``redact``, which removes URL userinfo, credential header values,
bearer/basic/token words, GitHub token shapes and every registered secret in its plain,
stripped and base64 forms.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Iterable, Mapping, TextIO

MASK = "***"
_MIN_SECRET = 4  # shorter values would blank ordinary words
_SECRETS: set[str] = set()

SECRET_ENV = ("RIGHTSIZER_GITHUB_TOKEN", "GITHUB_TOKEN", "RIGHTSIZER_PROMETHEUS_TOKEN", "RIGHTSIZER_PROMETHEUS_PASSWORD",
              "RIGHTSIZER_PUSHGATEWAY_TOKEN", "RIGHTSIZER_PUSHGATEWAY_PASSWORD")

_PATTERNS = (
    # scheme://user:password@host → scheme://***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]*@"), r"\1" + MASK + "@"),
    # Authorization: Basic xxx / Cookie: … / X-Api-Key: … (a header's whole value)
    (re.compile(r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|private-token)"
                r"(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), r"\1\2" + MASK),
    # password=… / token=… in query strings and key=value text; "token": "…" in JSON
    (re.compile(r"(?i)\b(password|passwd|secret|token|access_token|api_key)=[^&\s'\"]+"), r"\1=" + MASK),
    (re.compile(r"(?i)(\"(?:password|passwd|secret|token|access_token)\"\s*:\s*\")[^\"]*\""), r"\1" + MASK + '"'),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 " + MASK),
    # GitHub token shapes (classic, fine-grained, app installation, OAuth, refresh)
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{22,})\b"), MASK),
)


def _forms(value: str) -> set[str]:
    out = set()
    for v in {value, value.strip(), value.rstrip("\r\n")}:
        if len(v) >= _MIN_SECRET:
            out.add(v)
            out.add(repr(v)[1:-1])  # how Python shows it inside a message: 'tok\n'
            b64 = base64.b64encode(v.encode()).decode()
            out.update({b64, b64.rstrip("=")})
    return out


def register(*values: str | None) -> None:
    """Secrets to remove wherever they appear, in every form we know."""
    for value in values:
        if value:
            _SECRETS.update(_forms(value))


def register_basic(username: str | None, password: str | None) -> None:
    if username or password:
        register(password, f"{username or ''}:{password or ''}")


def register_env(env: Mapping[str, str], urls: Iterable[str | None] = ()) -> None:
    """The secrets the bot is given: tokens, the Prometheus password, header values and the
    password inside any URL."""
    register(*(env.get(k) for k in SECRET_ENV))
    for prefix in ("RIGHTSIZER_PROMETHEUS", "RIGHTSIZER_PUSHGATEWAY"):
        register_basic(env.get(f"{prefix}_USERNAME"), env.get(f"{prefix}_PASSWORD"))
    for line in [*(env.get("RIGHTSIZER_PROMETHEUS_HEADERS") or "").splitlines(),
                 *(env.get("RIGHTSIZER_PUSHGATEWAY_HEADERS") or "").splitlines()]:
        name, sep, value = line.partition(":")
        if sep:
            register(value, value.strip().split(" ", 1)[-1])  # "Bearer xyz": xyz too
    for url in urls:
        m = re.match(r"(?i)[a-z][a-z0-9+.-]*://([^/@\s]*)@", url or "")
        if m:
            user, _, password = m.group(1).partition(":")
            register(password, m.group(1))
            register_basic(user, password)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts whole lines before passing them on (a secret split across two
    writes of one line is still caught; partial lines wait for their newline or a flush)."""

    def __init__(self, inner: TextIO):
        self.inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            head, self._pending = self._pending.rsplit("\n", 1)
            self.inner.write(redact(head + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.inner.write(redact(self._pending))
            self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.inner.fileno()
