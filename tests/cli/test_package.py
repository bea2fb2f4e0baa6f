"""The package as a user gets it: the wheel built from this tree, installed into a fresh
virtualenv, carries the license, the unit, the example config and the drop-ins, and
`amed install-unit` writes a unit that systemd accepts, running that virtualenv's amed.

Offline and quick: the wheel is installed without its dependencies, which the new
virtualenv finds in this one's site-packages (a path in a .pth file; this environment's
own amed is not on it, so the installed one is what runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

# One wheel for the module: its tests stay on one xdist worker (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("package-wheel")

REPO = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "tests"
)


def run(argv: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`argv`, which must succeed; in `cwd`, never this tree (where `python -c` would
    import the source's amed instead of the installed one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "PYTHON"))}
    proc = subprocess.run(
        [str(a) for a in argv],
        env=env,
        cwd=cwd or Path("/"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"
    return proc


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing; .ci/run installs it (apt: systemd)")
        pytest.skip("systemd-analyze is not installed")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORED)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source])
    (built,) = (root / "dist").glob("amed-*.whl")
    return built


def test_the_wheel_carries_the_license_and_the_service_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rpartition("/")[2] for n in names if "/data/share/amed/systemd/" in n}
    assert shipped >= {"amed.service", "amed.toml", "amed-gpu.conf", "amed-cpu-pinning.conf"}
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    )
    assert b"License-Expression: Apache-2.0" in metadata
    assert b"Apache License" in (REPO / "LICENSE").read_bytes()


def test_install_unit_from_the_installed_wheel_passes_systemd_analyze_verify(
    wheel: Path, tmp_path: Path
) -> None:
    analyze = systemd_analyze()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin/python"
    target = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        .stdout.strip()
    )  # fmt: skip
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    (target / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run([python, "-c", "import amed; print(amed.__file__)"]).stdout
    assert where.startswith(str(venv)), where

    dest, config_dir = tmp_path / "units", tmp_path / "etc-ame"
    amed = venv / "bin" / "amed"
    run([amed, "install-unit", "--dest", dest, "--config-dir", config_dir, "--drop-in", "gpu"])
    unit = (dest / "amed.service").read_text()
    (exec_start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == f"ExecStart={amed} run --config {config_dir}/amed.toml --log-format json"
    assert (config_dir / "amed.toml").read_text() == (REPO / "systemd/amed.toml").read_text()
    assert (dest / "amed.service.d/gpu.conf").exists()
    assert not (dest / "amed.service.d/cpu-pinning.conf").exists()
    run([analyze, "verify", dest / "amed.service"])

    # Again: nothing differs, nothing is replaced; a config the user edited is kept.
    (config_dir / "amed.toml").write_text('project = "/srv/p"\n')
    again = run([amed, "install-unit", "--dest", dest, "--config-dir", config_dir]).stdout
    assert f"unchanged {dest / 'amed.service'}" in again and f"kept {config_dir}" in again
    assert (config_dir / "amed.toml").read_text() == 'project = "/srv/p"\n'


def test_install_unit_refuses_to_replace_a_unit_that_differs(tmp_path: Path) -> None:
    amed = Path(sys.executable).parent / "amed"
    (tmp_path / "amed.service").write_text("[Service]\nExecStart=/bin/true\n")
    proc = subprocess.run(
        [amed, "install-unit", "--dest", tmp_path, "--config-dir", tmp_path / "c"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "exists and differs; pass --force" in proc.stderr
    assert (tmp_path / "amed.service").read_text() == "[Service]\nExecStart=/bin/true\n"
