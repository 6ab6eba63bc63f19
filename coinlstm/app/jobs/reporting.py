"""What the commands write beside their tables: JSON files and time stamps, one way each."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path


def write_json_atomically(path: Path, payload: dict) -> None:
    """Atomically: the reader sees the old file, no file, or the whole new one.

    Encoded straight into the file: ``json.dumps`` of an indented payload first holds every
    piece of it in a list, several times the text's size, which grows with a market job's
    pairs (docs/performance.md). A write that fails leaves no temporary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("w") as file:
            json.dump(payload, file, indent=2, default=str)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def iso_utc(seconds: float) -> str:
    """A Unix time as ISO 8601 UTC to the second (the reports' started/finished)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
