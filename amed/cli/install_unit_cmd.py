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
DEFAULT_DEST = Path("/etc/systemd/system")
DEFAULT_CONFIG_DIR = Path("/etc/ame")


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


def hidden_from_service(amed: Path, unit: str) -> str | None:
    """Why the service cannot start `amed` from where it is, or None: the unit's
    PrivateTmp= gives it a /tmp of its own and ProtectHome= hides the home directories,
    so an amed installed there is not found when systemd starts the service."""
    settings: dict[str, str] = {}
    for line in unit.splitlines():
        key, eq, value = line.strip().partition("=")
        if eq and not key.startswith(("#", ";")):
            settings[key.strip()] = value
    hiding = {
        "PrivateTmp": ({"yes", "true", "on", "1"}, (Path("/tmp"), Path("/var/tmp"))),
        "ProtectHome": (
            {"yes", "true", "on", "1", "tmpfs"},
            (Path("/home"), Path("/root"), Path("/run/user")),
        ),
    }
    for place in dict.fromkeys((amed, amed.resolve())):
        for setting, (values, roots) in hiding.items():
            value = settings.get(setting, "").strip().lower()
            root = next((r for r in roots if place.is_relative_to(r)), None)
            if value in values and root is not None:
                return (
                    f"{place} is under {root}, which the unit hides from the service "
                    f"({setting}={value}): it cannot start amed from there; install amed "
                    "outside it (e.g. a virtualenv in /opt/amed) and run its "
                    "`amed install-unit`"
                )
    return None


@click.command("install-unit")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the unit goes (default: /etc/systemd/system); drop-ins go to "
    "DEST/amed.service.d/, and amed.toml too goes to DEST unless --config-dir is given.",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the example amed.toml goes if none is there; the unit reads it (default: "
    "/etc/ame, or DEST when --dest is given).",
)
@click.option(
    "--drop-in",
    "drop_ins",
    type=click.Choice(sorted(DROP_INS)),
    multiple=True,
    help="Also install this drop-in (repeatable); each opens something the unit closes.",
)
@click.option("--force", is_flag=True, help="Replace a unit or drop-in that differs.")
def install_unit(
    dest: Path | None, config_dir: Path | None, drop_ins: tuple[str, ...], force: bool
) -> int:
    """Write the systemd unit (running this amed), the example config and drop-ins.

    \b
    By default: /etc/systemd/system/amed.service, its drop-ins in
    /etc/systemd/system/amed.service.d/, and /etc/ame/amed.toml. With --dest DIR
    everything goes under DIR (DIR/amed.toml included) unless --config-dir is given."""
    shipped = shipped_dir()
    if shipped is None:
        click.echo("error: this installation of amed carries no systemd files", err=True)
        return EXIT_FAILED
    # A trial install into a directory of one's own writes nothing under /etc.
    config_dir = config_dir or dest or DEFAULT_CONFIG_DIR
    dest = (dest or DEFAULT_DEST).absolute()
    config = config_dir.absolute() / CONFIG
    amed = amed_command()
    unit = unit_text((shipped / UNIT).read_text(), amed, config)
    done = [(_write(dest / UNIT, unit, 0o644, force=force), dest / UNIT)]
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
    hidden = hidden_from_service(amed, unit)
    if hidden is not None:
        click.echo(f"warning: {hidden}", err=True)
    click.echo(
        f"next: set `project` in {config} (readable by group {SERVICE_GROUP}; the unit's user "
        f"is made with `useradd --system --home-dir /var/lib/ame {SERVICE_GROUP}`), then "
        "`systemctl daemon-reload && systemctl enable --now amed`",
        err=True,
    )
    return EXIT_OK
