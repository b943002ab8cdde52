"""The two file operations every stored thing shares: a folder only the user can read, and
moving a damaged file aside (kept for inspection, never deleted)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path


def private_dir(path: os.PathLike[str] | str) -> None:
    """Create ``path`` (and parents) readable by the user only, and tighten it if it exists."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass


def set_aside(path: Path, companions: tuple[str, ...] = ()) -> Path | None:
    """Rename a damaged ``path`` (and ``path + suffix`` for each companion suffix, e.g. SQLite's
    ``-wal``) to ``<name>.corrupt-<time to the microsecond>``; None when there is nothing to move."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.corrupt-{datetime.now().strftime('%Y%m%dT%H%M%S%f')}")
    os.replace(path, target)
    for suffix in companions:
        extra = Path(str(path) + suffix)
        if extra.exists():
            os.replace(extra, Path(str(target) + suffix))
    return target
