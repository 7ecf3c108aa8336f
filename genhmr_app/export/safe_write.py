"""Never lose a user's file: write to a temporary file, keep any existing file as a numbered backup,
then move the new file into place atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def backup_path(path: Path) -> Path:
    for n in range(1, 10_000):
        candidate = path.with_name(f"{path.stem}.bak{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise OSError(f"too many backups of {path}")


def safe_write(path: str | Path, writer: Callable[[Path], None]) -> Path | None:
    """`writer(tmp_path)` writes the content; returns the backup path if an older file was kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        with tmp_path.open("rb+") as fh:  # on disk before the rename: a crash leaves old or new, never half
            os.fsync(fh.fileno())
        backup = None
        if path.exists():
            backup = backup_path(path)
            shutil.copy2(path, backup)
        os.replace(tmp_path, path)
        return backup
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace `path` with `text` atomically and durably (temporary file, fsync, rename), no backup:
    for results a program owns and rewrites (batch outputs, per-frame caches), not for user files."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
