"""Small secrets that development keeps on disk (secret key, demo password), made safely."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path


def read_or_create_secret(path: Path, nbytes: int) -> str:
    """The secret in `path`, creating it (mode 0600, atomically) on first use.

    O_EXCL makes exactly one of several processes starting at once the creator; the others wait
    for its write instead of reading a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise RuntimeError(f"{path} exists but is empty; delete it and start again") from None
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
