"""The audit archive in a folder (`file:///abs/dir`): a local disk, or a mounted share.

An object is written to a hidden staging file in its own folder, flushed to disk, then hard
linked to its name. `link` fails when the name exists, so an object appears whole or not at
all and is never overwritten, even by two processes at once. A crash can leave a staging file
(`.staged-…`) behind: it is never listed, and can be deleted.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tenantry.archive.ports import archive_unavailable, checked_key, object_differs

_STAGED = ".staged-"


class FolderArchive:
    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise ValueError(f"the archive folder must be absolute, not {root}")
        self.root = root
        self.url = root.as_uri()

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = _staged(path.parent, data)
        except OSError as error:
            raise archive_unavailable(f"write {key}", str(error)) from error
        try:
            os.link(staged, path)
            _flush_folder(path.parent)
            return True
        except FileExistsError:
            pass  # compared below, once the staging file is gone
        except OSError as error:
            raise archive_unavailable(f"write {key}", str(error)) from error
        finally:
            staged.unlink(missing_ok=True)
        if self.get(key) == data:
            return False
        raise object_differs(key)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise archive_unavailable(f"read {key}", str(error)) from error

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix.rpartition("/")[0]
        keys = []
        try:
            for parent, _folders, names in os.walk(folder):
                for name in names:
                    key = (Path(parent) / name).relative_to(self.root).as_posix()
                    if key.startswith(prefix) and not _hidden(key):
                        keys.append(key)
        except OSError as error:
            raise archive_unavailable(f"list {prefix}", str(error)) from error
        return sorted(keys)

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)


def _staged(folder: Path, data: bytes) -> Path:
    handle, name = tempfile.mkstemp(dir=folder, prefix=_STAGED)
    with os.fdopen(handle, "wb") as staged:
        staged.write(data)
        staged.flush()
        os.fsync(staged.fileno())
    return Path(name)


def _flush_folder(folder: Path) -> None:
    # The new name is durable only once its folder is flushed (POSIX; Windows has no such call).
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))
