"""Write files so that a crash never leaves a half-written one behind.

Every output goes to a temporary file in the same folder and is renamed into
place, which is atomic on POSIX and Windows. The file gets the mode a plain
``open()`` would give it under the user's umask, and a file it replaces
keeps its own mode.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path


def write_with(path: str | Path, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` only if it succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "xb"):  # created with the umask's mode, as open() would make ``path``
            pass
        mode = stat.S_IMODE((path if path.exists() else tmp).stat().st_mode)
        writer(str(tmp))
        os.chmod(tmp, mode)  # some writers (safetensors) recreate the file privately
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    def writer(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return write_with(path, writer)


def write_json(path: str | Path, data) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
