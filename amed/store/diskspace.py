"""Free disk space under a `file://` store, found without opening (and so creating) it.

For readers that must change nothing: the dry run and the dashboard.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit


def free_bytes_under(url: str) -> int | None:
    """Free bytes on the disk that holds (or would hold) a `file://` store; None for others."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
