"""`amed install-unit`: the systemd unit, the example config and the drop-ins, written
where systemd and amed look, from the files the package ships.

A user who installs amed from the package index has no source checkout to copy them from:
the wheel carries them (under `<prefix>/share/amed/systemd`, pyproject's data files), and a
checkout's `systemd/` serves an editable install. The unit's `ExecStart=` names the `amed`
that runs this command, so the service runs the virtualenv it was installed into.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

import click

from amed.cli.exits import EXIT_FAILED, EXIT_OK

UNIT = "amed.service"
CONFIG = "amed.toml"
DROP_INS = {"gpu": "amed-gpu.conf", "cpu-pinning": "amed-cpu-pinning.conf"}
SHARE = Path("share") / "amed" / "systemd"
SERVICE_GROUP = "ame"  # the unit's Group=


def shipped_dir() -> Path | None:
    """Where the shipped files are: the install's data files, else a source checkout."""
    for candidate in (
        Path(sys.prefix) / SHARE,
        Path(__file__).resolve().parents[2] / "systemd",
    ):
        if (candidate / UNIT).is_file():
            return candidate
    return None


def amed_command() -> Path:
    """The `amed` of this environment: the script beside this interpreter (a virtualenv's
    bin/, not resolved through its symlink), else the one on PATH."""
    beside = Path(sys.executable).parent / "amed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    argv0 = Path(sys.argv[0])
    return argv0.absolute() if argv0.name == "amed" else beside.absolute()


def unit_text(shipped: str, amed: Path, config: Path) -> str:
    """The shipped unit with ExecStart= running `amed` with `config`."""
    lines = shipped.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("ExecStart="):
            rest = line.removeprefix("ExecStart=").split()
            options = re.sub(r"--config \S+", f"--config {config}", " ".join(rest[1:]))
            lines[i] = f"ExecStart={amed} {options}\n"
    return "".join(lines)


def _write(path: Path, text: str, mode: int, *, force: bool) -> str:
    """'wrote', 'unchanged', or ClickException when a different file is there."""
    if path.exists():
        if path.read_text() == text:
            return "unchanged"
        if not force:
            raise click.ClickException(f"{path} exists and differs; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)
    return "wrote"


def _give_to_service_group(path: Path) -> None:
    """The unit runs as user ame, which reads its config through group ame (mode 0640):
    given to that group when it exists and this user may."""
    import grp

    # No such group, or not ours to give: the next steps say what to do.
    with contextlib.suppress(KeyError, PermissionError):
        os.chown(path, -1, grp.getgrnam(SERVICE_GROUP).gr_gid)


@click.command("install-unit")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where the unit goes; drop-ins go to DEST/amed.service.d/.",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/ame"),
    show_default=True,
    help="Where the example amed.toml goes if none is there; the unit reads it.",
)
@click.option(
    "--drop-in",
    "drop_ins",
    type=click.Choice(sorted(DROP_INS)),
    multiple=True,
    help="Also install this drop-in (repeatable); each opens something the unit closes.",
)
@click.option("--force", is_flag=True, help="Replace a unit or drop-in that differs.")
def install_unit(dest: Path, config_dir: Path, drop_ins: tuple[str, ...], force: bool) -> int:
    """Write the systemd unit (running this amed), the example config and drop-ins."""
    shipped = shipped_dir()
    if shipped is None:
        click.echo("error: this installation of amed carries no systemd files", err=True)
        return EXIT_FAILED
    dest = dest.absolute()
    config = config_dir.absolute() / CONFIG
    amed = amed_command()
    done = [
        (_write(dest / UNIT, unit_text((shipped / UNIT).read_text(), amed, config), 0o644,
                force=force), dest / UNIT),
    ]  # fmt: skip
    if config.exists():
        done.append(("kept", config))
    else:
        done.append((_write(config, (shipped / CONFIG).read_text(), 0o640, force=False), config))
        _give_to_service_group(config)
    for name in drop_ins:
        path = dest / f"{UNIT}.d" / f"{name}.conf"
        done.append(
            (_write(path, (shipped / DROP_INS[name]).read_text(), 0o644, force=force), path)
        )
    for what, path in done:
        click.echo(f"{what} {path}")
    click.echo(
        f"next: set `project` in {config} (readable by group {SERVICE_GROUP}; the unit's user "
        f"is made with `useradd --system --home-dir /var/lib/ame {SERVICE_GROUP}`), then "
        "`systemctl daemon-reload && systemctl enable --now amed`",
        err=True,
    )
    return EXIT_OK
