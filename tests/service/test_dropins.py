"""The drop-ins under systemd/: systemd accepts each one on top of amed.service, it opens
what it says, and the exposure its comment gives is the one systemd-analyze measures."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service.test_systemd_unit import SYSTEMD, installed_unit

DROP_INS = {  # the report's item each one turns from ✓ to ✗, and what that line then says
    "amed-gpu.conf": ("DeviceAllow=", "char-nvidia-frontend:rw"),
    "amed-cpu-pinning.conf": ("SystemCallFilter=~@resources", "@resources is included"),
}

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def analyze(tmp_path: Path, *drop_ins: str) -> tuple[float, str]:
    """The unit as installed with `drop_ins` in its amed.service.d/ (systemd-analyze
    --offline reads the directory beside the unit file): its exposure and its report."""
    unit = installed_unit(tmp_path)
    folder = tmp_path / "amed.service.d"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name in drop_ins:
        shutil.copy(SYSTEMD / name, folder / name)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (overall,) = [line for line in proc.stdout.splitlines() if "Overall exposure level" in line]
    return float(overall.split(":")[1].split()[0]), proc.stdout


@pytest.mark.parametrize("name", sorted(DROP_INS))
def test_a_drop_in_costs_the_exposure_its_comment_says(tmp_path: Path, name: str) -> None:
    said = re.search(
        r"rates amed.service (\d\.\d) alone and (\d\.\d) with", (SYSTEMD / name).read_text()
    )
    assert said, f"{name} must give the exposure it costs"
    alone, _ = analyze(tmp_path)
    with_it, report = analyze(tmp_path, name)
    assert (alone, with_it) == (float(said.group(1)), float(said.group(2))), report


@pytest.mark.parametrize("name", sorted(DROP_INS))
def test_a_drop_in_opens_what_it_is_for_and_nothing_in_the_unit_alone(
    tmp_path: Path, name: str
) -> None:
    item, detail = DROP_INS[name]
    _, alone = analyze(tmp_path)
    _, report = analyze(tmp_path, name)
    line = next(line for line in report.splitlines() if line[2:].startswith(item))
    assert line.startswith("✗") and detail in line, line
    before = next(line for line in alone.splitlines() if line[2:].startswith(item))
    assert detail not in before
