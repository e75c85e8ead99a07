"""The one gate every file the bot reads from or writes to a repository goes through.

A repository is untrusted input: a symlink can point a "HelmRelease" at ``~/.ssh`` or
``/dev/zero``, a kustomize path can say ``../../etc``, a FIFO named ``values.yaml`` blocks
any reader forever. So a repository path is accepted only when it is relative, stays inside
the root after normalisation, has no symlink anywhere along it and names a regular file
(or, for a file about to be created, a missing name in a real directory). Reads are bounded
in size, and writes are atomic per file (temp + rename) and all-or-nothing per run.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Mapping


class PathRefused(Exception):
    """A path the bot will not read or write; the message says why (for warnings and reports)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def repo_relative(rel: str) -> str:
    """``rel`` as a clean POSIX path inside a repository, or PathRefused.

    No absolute paths, no ``..`` that climbs out, no ``.git`` component, no empty name:
    this is also what the Git Data API may be given as a tree path."""
    if not isinstance(rel, str) or not rel or "\0" in rel or "\\" in rel:
        raise PathRefused(f"{rel!r} is not a repository path")
    if rel.startswith("/") or PurePosixPath(rel).is_absolute():
        raise PathRefused(f"{rel}: absolute paths are outside the repository")
    parts: list[str] = []
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathRefused(f"{rel}: climbs out of the repository")
            parts.pop()
            continue
        if part == ".git":
            raise PathRefused(f"{rel}: inside .git")
        parts.append(part)
    if not parts:
        raise PathRefused(f"{rel!r} names no file")
    return "/".join(parts)


def inside(root: Path, rel: str, *, missing_ok: bool = False, folder: bool = False) -> Path:
    """The path of ``rel`` under ``root`` after the gate's checks (see the module doc);
    ``folder``: it must name a real directory instead of a regular file."""
    return Path(_inside(os.fspath(root), rel, missing_ok, folder)[0])


def _inside(root: str, rel: str, missing_ok: bool, folder: bool) -> tuple[str, os.stat_result | None]:
    """``inside`` on strings (a discovery walk checks every file of a repository: pathlib was most of its
    cost), with the last component's lstat, or None for a missing name ``missing_ok`` allows."""
    clean = repo_relative(rel)
    node = root
    parts = clean.split("/")
    last_i = len(parts) - 1
    st = None
    for i, part in enumerate(parts):
        node = f"{node}/{part}"
        try:
            st = os.lstat(node)
        except FileNotFoundError:
            if missing_ok and i == last_i:
                return node, None
            raise PathRefused(f"{clean}: not found") from None
        except OSError as exc:
            raise PathRefused(f"{clean}: cannot read ({exc.strerror or exc})") from None
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            raise PathRefused(f"{clean}: {'/'.join(parts[:i + 1])} is a symlink; symlinks are not followed")
        if i < last_i:
            if not stat.S_ISDIR(mode):
                raise PathRefused(f"{clean}: {'/'.join(parts[:i + 1])} is not a directory")
        elif folder:
            if not stat.S_ISDIR(mode):
                raise PathRefused(f"{clean}: is {_kind(mode)}, not a directory")
        elif not stat.S_ISREG(mode):
            raise PathRefused(f"{clean}: is {_kind(mode)}, not a regular file")
    return node, st


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (symlinks to one are followed:
    use ``inside`` first for repository paths). Never blocks on a FIFO, never reads a device."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PathRefused(f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise PathRefused(f"is {_kind(st.st_mode)}, not a regular file")
    return _read_checked(path, st, limit)


def _read_checked(path: str | Path, st: os.stat_result, limit: int, flags: int = 0) -> bytes:
    """The bytes of a file ``st`` already showed to be regular: opened without blocking, checked again once open."""
    if st.st_size > limit:
        raise PathRefused(f"is {st.st_size} bytes, over the limit of {limit}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | flags)
    except OSError as exc:
        raise PathRefused(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped between stat and open
            raise PathRefused("is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise PathRefused(f"is over the limit of {limit} bytes")
    return data


def read_inside(root: Path, rel: str, limit: int) -> bytes:
    """A repository file's bytes: the gate's checks, then one open that does not follow a symlink put in its place since."""
    path, st = _inside(os.fspath(root), rel, False, False)
    assert st is not None
    return _read_checked(path, st, limit, getattr(os, "O_NOFOLLOW", 0))


def write_all(root: Path, files: Mapping[str, bytes]) -> None:
    """Write every file or none: each is written to a temp file beside it and renamed into
    place; if any step fails, the files already replaced get their old bytes back."""
    planned: list[tuple[Path, bytes | None, bytes]] = []
    for rel in sorted(files):
        path = inside(root, rel, missing_ok=True)
        before = path.read_bytes() if path.exists() else None
        if before is not None and (not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222):
            raise PathRefused(f"{rel}: is read-only; nothing was written")
        planned.append((path, before, files[rel]))
    temps: list[tuple[Path, Path]] = []
    done: list[tuple[Path, bytes | None]] = []
    try:
        for path, _, content in planned:
            temps.append((_temp_with(path, content), path))
        for (tmp, path), (_, before, _) in zip(temps, planned):
            os.replace(tmp, path)
            done.append((path, before))
    except BaseException:
        for tmp, _ in temps:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        for path, before in reversed(done):
            if before is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(_temp_with(path, before), path)
        raise


def _temp_with(path: Path, content: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".rightsizer-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        if path.exists():
            os.chmod(name, stat.S_IMODE(os.stat(path).st_mode))
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)
