"""`amed install-unit`: with --dest alone every file goes under DEST (a trial install
writes nothing under /etc), and an amed that the unit's sandbox hides from the service
(PrivateTmp=, ProtectHome=) is said in one warning line."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def install_unit(amed: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "PYTHON"))}
    return subprocess.run(
        [str(amed), "install-unit", *map(str, args)],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def this_amed() -> Path:
    return Path(sys.executable).parent / "amed"


def test_dest_alone_puts_the_config_there_too(tmp_path: Path) -> None:
    dest = tmp_path / "unit"
    proc = install_unit(this_amed(), "--dest", dest)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote {dest / 'amed.service'}",
        f"wrote {dest / 'amed.toml'}",
    ]
    unit = (dest / "amed.service").read_text()
    assert f" --config {dest / 'amed.toml'} " in unit
    config_dir = tmp_path / "conf"
    again = install_unit(this_amed(), "--dest", dest, "--config-dir", config_dir)
    assert again.returncode == 1, "the unit now reads another config: it differs"
    forced = install_unit(this_amed(), "--dest", dest, "--config-dir", config_dir, "--force")
    assert f"wrote {config_dir / 'amed.toml'}" in forced.stdout.splitlines()


def test_an_amed_the_sandbox_hides_is_one_warning_line(tmp_path: Path) -> None:
    if not (str(this_amed()).startswith(("/tmp/", "/home/", "/root/"))):
        quiet = install_unit(this_amed(), "--dest", tmp_path / "here")
        assert quiet.returncode == 0 and "warning" not in quiet.stderr
    # An amed installed under /tmp (tmp_path): a virtualenv that imports this source.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=True)
    (site,) = (env_dir / "lib").glob("python*/site-packages")
    (site / "amed.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    amed = env_dir / "bin" / "amed"
    amed.write_text(f"#!{env_dir / 'bin' / 'python'}\nfrom amed.cli.amed_cmd import main\nmain()\n")
    amed.chmod(0o755)
    proc = install_unit(amed, "--dest", tmp_path / "unit")
    assert proc.returncode == 0, proc.stderr
    (warning,) = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warning == (
        f"warning: {amed} is under /tmp, which the unit hides from the service "
        "(PrivateTmp=yes): it cannot start amed from there; install amed outside it (e.g. a "
        "virtualenv in /opt/amed) and run its `amed install-unit`"
    )
