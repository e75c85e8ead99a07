"""Errors a user can act on: each names the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_INPUT = 2
EXIT_FAILURE = 1


class RunError(Exception):
    """Something outside the user's files failed (a backend down, a timeout): exit 1, one clear line, nothing written."""


@dataclass
class InputError(Exception):
    """Bad user input (policy, snapshot, command). Exit code 2, nothing written."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" {self.field}:" if self.field else ""
        return f"{where}:{what} {self.message}"

    def annotation(self) -> str:
        """The same error as a GitHub Actions workflow command."""
        props = f"file={self.file}"
        if self.line:
            props += f",line={self.line}"
        title = f"::error {props},title=rightsizer::"
        text = (f"{self.field}: " if self.field else "") + self.message
        return title + text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
