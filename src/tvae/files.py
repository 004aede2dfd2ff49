"""Files written whole or not at all, with the mode any file the user writes gets.

Writers go to a temporary name beside the target and are renamed over it at the end, so an
interrupted run never leaves a half-written file under the final name. The temporary file is
created with mode ``0o666`` and the kernel applies the process umask (and any default ACL); that
mode is given back to the file before the rename, because some writers (safetensors) replace
the file with a private ``0o600`` one. The umask itself is never changed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``, else it goes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        break
    try:
        mode = os.fstat(handle).st_mode & 0o7777  # 0o666 less the umask: the usual mode
    finally:
        os.close(handle)
    try:
        yield str(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
