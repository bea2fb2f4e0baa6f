"""A stored version never changes afterwards, even when its task left a process behind that
holds its output open and writes to it as soon as the version is stored: out of the process
group with `setsid`, and without the run's tag in its environment too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amed.store.checksum import bytes_checksum
from amed.store.manifest import Manifest
from tests.conftest import Workspace
from tests.service.daemon import process_gone

WRITER = (
    "mkdir -p data && head -c 100000 /dev/urandom > data/out.bin && "
    '{prefix} setsid sh -c \'echo $$ > "$PIDS_DIR/writer"; exec 3>>data/out.bin; '
    'until [ -n "$(find "$OBJECTS_DIR" -name manifest.json)" ]; do sleep 0.01; done; '
    "while :; do echo LATE >&3; sleep 0.05; done' </dev/null >/dev/null 2>&1 & "
    'while [ ! -s "$PIDS_DIR/writer" ]; do sleep 0.01; done'
)
SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: {command}
"""


@pytest.mark.parametrize("prefix", ["", "env -u AME_RUN_ID"], ids=["setsid", "setsid-untagged"])
def test_a_writer_left_behind_cannot_change_the_stored_version(
    ws: Workspace, tmp_path: Path, prefix: str
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    ws.env["PIDS_DIR"] = str(pids)
    ws.env["OBJECTS_DIR"] = str(ws.objects)
    ws.write_spec(SPEC.format(command=json.dumps(WRITER.format(prefix=prefix))))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    writer = int((pids / "writer").read_text())
    assert process_gone(writer), "the writer outlived the run"

    manifest_path = next(ws.objects.rglob("manifest.json"))
    (entry,) = Manifest.from_json(manifest_path.read_bytes()).files
    stored = manifest_path.parent / "files" / entry.path
    assert bytes_checksum(stored.read_bytes(), entry.algorithm) == entry.digest
    assert b"LATE" not in stored.read_bytes()
    pulled = tmp_path / "pulled"
    ws.run("ame", "ds", "pull", "d", str(pulled), check=True)
    assert (pulled / "out.bin").read_bytes() == stored.read_bytes()
