"""A reader in a process of its own: `python reader.py '<json list of [op, args]>'` runs each
operation through `amed.datasets` and prints one JSON list of results, `{"ok": value}` or
`{"error": type name, "message": text}`. The tests give it an environment holding only
what a reader on another machine would have (a store URL and its credentials).

Bytes are reported as sha256 and length, never printed: a test sees exactly what the
reader got, and a reader that got nothing reports nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import amed.datasets as ds


def digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def tree(root: Path) -> dict[str, Any]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {
        "path": str(root),
        "files": {p.relative_to(root).as_posix(): digest(p.read_bytes()) for p in files},
    }


def wait_for(go: Path) -> None:
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def run(op: str, args: dict[str, Any]) -> Any:
    if op == "list":
        return [dataclasses.asdict(info) for info in ds.list(**args)]
    if op == "files":
        return [dataclasses.asdict(info) for info in ds.files(**args)]
    if op == "read":
        return digest(ds.read_bytes(**args))
    if op == "text":
        return ds.read_text(**args)
    if op == "seek":
        offset, size = args.pop("offset"), args.pop("size")
        with ds.open(**args) as handle:
            handle.seek(offset)
            return digest(handle.read(size))
    if op == "path":
        return tree(ds.path(**args))
    if op == "path_held":
        # Get a cached copy, say so, wait for the go-ahead, then read it all.
        ready, go = Path(args.pop("ready_file")), Path(args.pop("go_file"))
        root = ds.path(**args)
        ready.write_text(str(root))
        wait_for(go)
        return tree(root)
    if op == "pull":
        dest = Path(ds.pull(**args))
        return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    if op == "pandas":
        import pandas

        frame = pandas.read_csv(args["url"], storage_options=args.get("storage_options"))
        return frame.to_dict(orient="list")
    if op == "open_partial":
        # Read the first bytes, say so, wait for the go-ahead, then read the rest.
        first = args.pop("first")
        ready, go = Path(args.pop("ready_file")), Path(args.pop("go_file"))
        got = b""
        try:
            with ds.open(**args) as handle:
                got = handle.read(first)
                ready.write_text("ready")
                wait_for(go)
                got += handle.read()
        finally:
            ready.write_text("ready")
        return digest(got)
    raise ValueError(f"unknown operation {op!r}")


def main() -> None:
    results: list[dict[str, Any]] = []
    for op, args in json.loads(sys.argv[1]):
        try:
            results.append({"ok": run(op, dict(args))})
        except ds.DatasetError as exc:
            results.append({"error": type(exc).__name__, "message": str(exc)})
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
