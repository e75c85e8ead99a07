"""A PyGithub client with GitHub's rate-limit manners, and the clean stop when they run out.

PyGithub's ``GithubRetry`` already retries 5xx and rate-limited 403s (waiting for
``X-RateLimit-Reset`` or a secondary-limit pause); we add 429, honour ``Retry-After`` on it,
allow PATCH/DELETE retries (our PATCHes are idempotent: forced ref moves and PR edits), and
cap every wait so a run that cannot finish stops with a message instead of sleeping for an hour.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededException
from urllib3 import Retry
from urllib3.exceptions import MaxRetryError

try:  # PyGithub >= 2.7
    from github.GithubException import RateLimitExceededExceedsMaxWait
except ImportError:  # pragma: no cover
    RateLimitExceededExceedsMaxWait = RateLimitExceededException  # type: ignore[misc,assignment]


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = "https://api.github.com"
    retries: int = 6
    max_wait: float = 300.0  # longest single rate-limit wait we accept, seconds
    secondary_wait: float = 60.0  # pause after a secondary rate limit without Retry-After
    backoff: float = 1.0  # urllib3 exponential backoff factor for 5xx
    write_pause: float = 1.0  # GitHub asks integrations to space out writes by ~1 s
    timeout: int = 30


_local = threading.local()


class _Retry(GithubRetry):
    """GithubRetry that leaves a POST alone inside ``confirm_before_retry``: creating a comment
    twice is not harmless, so the caller looks for it before it posts again."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method == "POST" and getattr(_local, "confirm_first", False):
            return False
        return super().is_retry(method, status_code, has_retry_after)


@contextlib.contextmanager
def confirm_before_retry() -> Iterator[None]:
    old = getattr(_local, "confirm_first", False)
    _local.confirm_first = True
    try:
        yield
    finally:
        _local.confirm_first = old


def connect(token: str, settings: ClientSettings = ClientSettings()) -> Github:
    retry = _Retry(
        total=settings.retries,
        secondary_rate_wait=settings.secondary_wait,
        max_rate_limit_wait=settings.max_wait,
        status_forcelist=list(range(500, 600)) + [429],
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH", "DELETE"},
        backoff_factor=settings.backoff,
        retry_after_max=int(settings.max_wait),
        respect_retry_after_header=True,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=settings.base_url,
        retry=retry,
        timeout=settings.timeout,
        seconds_between_requests=0,
        seconds_between_writes=settings.write_pause,
        user_agent="rightsizer",
    )


def token_kind(token: str) -> str:
    """'installation' for GITHUB_TOKEN and GitHub App tokens (GitHub's documented ``ghs_``
    prefix), else 'user'."""
    return "installation" if token.startswith("ghs_") else "user"


def bot_login(gh: Github, token: str) -> str | None:
    """The login PRs are authored by, or None when the token cannot tell.

    ``GITHUB_TOKEN`` and GitHub App installation tokens cannot call ``GET /user`` (403
    "Resource not accessible by integration") and have no API to learn their own bot login;
    they author as ``github-actions[bot]`` or ``<app-slug>[bot]``, both of type Bot. None
    then means "a Bot account" (see ``publish.is_ours``)."""
    if token_kind(token) == "installation":
        return None  # GET /user would only answer 403 (and log it as a failure)
    try:
        return gh.get_user().login
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            return None
        raise


class BudgetExhausted(RuntimeError):
    """GitHub would not take more requests within the waits we accept."""


def explain_failure(exc: BaseException) -> str | None:
    """A one-line explanation for API failures that end the run cleanly, else None."""
    if isinstance(exc, (RateLimitExceededException, RateLimitExceededExceedsMaxWait)):
        return ("GitHub API rate limit exhausted (waiting would exceed the configured maximum); "
                "nothing more was written. The next scheduled run continues where this one stopped.")
    if isinstance(exc, (requests.exceptions.RetryError, MaxRetryError)):
        return ("GitHub API kept failing after retries (server errors or rate limits); "
                "nothing more was written. The next run continues where this one stopped.")
    from bot.github.publish import PublishError

    if isinstance(exc, BudgetExhausted):
        return f"GitHub API rate limit nearly exhausted: {exc}"
    if isinstance(exc, PublishError):
        return str(exc)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "Could not reach the GitHub API; nothing more was written."
    if isinstance(exc, GithubException):
        msg = exc.data.get("message") if isinstance(exc.data, dict) else None
        if exc.status in (401,):
            return "The GitHub token was rejected (401). Check the `token` input."
        if exc.status == 403 and msg and "not accessible" in msg:
            return (f"GitHub refused a write ({msg}). The job needs `permissions: contents: write, "
                    "pull-requests: write, issues: write`.")
        return f"GitHub API error {exc.status}: {msg or exc.data}"
    return None
