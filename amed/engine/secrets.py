"""Task secrets: `secrets: [!ame {key, injectAs}]`, read when a run starts, given to that
task's environment only.

A secret's value comes from `$CREDENTIALS_DIRECTORY/<key>` (systemd's `LoadCredential=`)
when that directory holds it, else from `<state dir>/secrets/<key>`, which must be a regular
file of the daemon's user that nobody else may read or write (mode 0600 or 0400). One
trailing newline is dropped, as `echo value > file` adds one. Values never leave the
returned mapping: errors name the key and the file, never the content, and nothing here
logs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from spec import Task

SECRETS_DIR_NAME = "secrets"
MAX_SECRET_BYTES = 64 * 1024
"""An environment variable, not a file: anything bigger is a mistake."""


class SecretError(Exception):
    """A secret cannot be given to a task; one line, without the secret's value."""


def secret_env(task: Task, state_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`{injectAs: value}` for every secret of `task`; `env` is the daemon's environment."""
    credentials = env.get("CREDENTIALS_DIRECTORY")
    values: dict[str, str] = {}
    for secret in task.secrets:
        where = f"task {task.name!r}: secret {secret.key!r}"
        _check_key(secret.key, where)
        if credentials and (Path(credentials) / secret.key).is_file():
            data = _read(Path(credentials) / secret.key, where, private=False)
        else:
            data = _read(state_dir / SECRETS_DIR_NAME / secret.key, where, private=True)
        values[secret.inject_as] = _decode(data, where)
    return values


def _check_key(key: str, where: str) -> None:
    if key in (".", "..") or "/" in key or "\0" in key:
        raise SecretError(f"{where}: a secret key is a file name; '/' and '..' are not allowed")


def _read(path: Path, where: str, *, private: bool) -> bytes:
    """The file's bytes. `private`: refuse links, and files others could read or write."""
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NOFOLLOW if private else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        places = "$CREDENTIALS_DIRECTORY or " if not private else ""
        raise SecretError(f"{where}: not found ({places}{path})") from None
    except OSError as exc:
        raise SecretError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{where}: {path} is not a regular file")
        if private:
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise SecretError(
                    f"{where}: {path} is mode {mode:04o}; it must be 0600 (chmod 600 {path})"
                )
            if info.st_uid != os.geteuid():
                raise SecretError(f"{where}: {path} must belong to the user amed runs as")
        if info.st_size > MAX_SECRET_BYTES:
            raise SecretError(f"{where}: {path} is larger than {MAX_SECRET_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)


def _decode(data: bytes, where: str) -> str:
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if b"\0" in data:
        raise SecretError(f"{where}: the value contains a NUL byte, which no environment allows")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{where}: the value is not UTF-8 text") from None
