"""`ame ds pull NAME [DEST]`: download a data set's ready version, verified and atomic.

Files are checked against the manifest's checksums as they arrive and land in a temporary
directory beside DEST that is renamed into place only when complete: DEST is either left
as it was or holds exactly the stored version. A data set that is not ready (evicted, or
failed) is requested from the daemon, and the pull waits for it.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from amed.cli.complete import dataset_names
from amed.cli.ds_views import plural
from amed.cli.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from amed.cli.names import find_dataset
from amed.cli.options import ame_settings, ame_state_option
from amed.cli.requests import append, daemon_alive, no_daemon_hint, now
from amed.config import Settings
from spec import format_bytes
from state.read import StateReader
from state.rows import DatasetRow

if TYPE_CHECKING:
    from amed.store.manifest import FileEntry, Manifest
    from amed.store.objects import ObjectStore

POLL_SECONDS = 0.5
GIVE_UP_STATUSES = ("failed", "blocked", "removed")


@click.command("pull")
@ame_state_option
@click.option("--storage", "storage_url", help="Object store URL (default: as the daemon's).")
@click.option("--force", is_flag=True, help="Replace a DEST that is not empty.")
@click.option(
    "--timeout",
    "timeout_seconds",
    type=float,
    default=3600.0,
    show_default=True,
    help="Seconds to wait for a data set that must be produced first.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, notes or summary; errors only.")
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=dataset_names)
@click.argument("dest", required=False, type=click.Path(path_type=Path))
def pull(
    config_file: Path | None,
    state_dir: Path | None,
    storage_url: str | None,
    force: bool,
    timeout_seconds: float,
    quiet: bool,
    name: str,
    dest: Path | None,
) -> int:
    """Download data set NAME (of PROJECT, when several have one) into DEST (default: ./NAME)."""
    settings = ame_settings(config_file, state_dir, storage_url=storage_url)
    reader = StateReader.in_dir(settings.state_dir)
    try:
        row: DatasetRow | None = find_dataset(reader, name, settings.state_dir)
    finally:
        reader.close()
    assert row is not None
    name = row.name  # without its project: DEST's default and what is said below
    dest = (dest or Path(name)).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        click.echo(f"error: {dest} is not empty; pass --force to replace it", err=True)
        return EXIT_INVALID
    if row.version is None:
        row = _request_and_wait(settings, row, timeout_seconds, quiet=quiet)
        if row is None:
            return EXIT_FAILED
    elif row.status != "ready" and not quiet:
        click.echo(
            f"note: {name} is {row.status}; pulling its stored version {row.version}", err=True
        )
    assert row.version is not None
    from amed.store.schemes import open_store
    from state.events import DatasetPulled

    store = open_store(settings.storage_url)
    # Another state sharing the store may have written a version of the same number at
    # the same key (a project taken over): refused, never served as ours.
    manifest = store.read_manifest(row.project, row.name, row.version, state_id=_state_id(settings))
    if manifest is None:
        click.echo(
            f"error: version {row.version} of {name} is not in {store.url}; was it evicted "
            "just now? Try again.",
            err=True,
        )
        return EXIT_FAILED
    _download(store, manifest, dest, show_progress=not quiet)
    try:
        append(
            settings.state_dir,
            [DatasetPulled(at=now(), project=row.project, dataset=row.name, version=row.version)],
        )
    except (sqlite3.Error, OSError) as exc:  # a reader without write access still gets data
        click.echo(f"warning: the pull is not recorded as a use: {exc}", err=True)
    if not quiet:
        click.echo(
            f"{name} version {row.version}: {plural(len(manifest.files), 'file')}, "
            f"{format_bytes(manifest.size_bytes)} in {dest}"
        )
    return EXIT_OK


def _row(settings: Settings, project: str, name: str) -> DatasetRow | None:
    reader = StateReader.in_dir(settings.state_dir)
    try:
        return reader.dataset(name, project)
    finally:
        reader.close()


def _state_id(settings: Settings) -> str | None:
    reader = StateReader.in_dir(settings.state_dir)
    try:
        return reader.state_id()
    finally:
        reader.close()


def _request_and_wait(
    settings: Settings, row: DatasetRow, timeout_seconds: float, *, quiet: bool = False
) -> DatasetRow | None:
    if row.status in ("removed", "blocked"):
        reason = (row.error or "").splitlines()[0] if row.error else "no longer declared"
        click.echo(f"error: data set {row.name} is {row.status}: {reason}", err=True)
        return None
    from state.events import DatasetRequested

    alive = daemon_alive(settings.state_dir)
    if row.status in ("evicted", "failed"):
        append(
            settings.state_dir,
            [DatasetRequested(at=now(), project=row.project, dataset=row.name, reason="pulled")],
        )
    if not alive:
        click.echo(
            f"error: data set {row.name} is {row.status} and {no_daemon_hint(settings.state_dir)}",
            err=True,
        )
        return None
    if not quiet:
        click.echo(f"{row.name} is {row.status}; waiting for the daemon to produce it…", err=True)
    asked = now()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        current = _row(settings, row.project, row.name)
        if current is None:
            break
        if current.status == "ready" and current.version is not None:
            return current
        if current.status == "blocked" or (
            current.status in GIVE_UP_STATUSES and current.updated_at >= asked
        ):
            first = (current.error or current.status).splitlines()[0]
            click.echo(f"error: data set {row.name} is {current.status}: {first}", err=True)
            return None
    click.echo(f"error: data set {row.name} was not ready within {timeout_seconds:g} s", err=True)
    return None


def _download(store: ObjectStore, manifest: Manifest, dest: Path, *, show_progress: bool) -> None:
    from amed.store.access import process_umask

    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.pull-", dir=dest.parent))
    try:
        staging.chmod(0o777 & ~process_umask())  # it becomes DEST: made as mkdir would
        if show_progress and sys.stderr.isatty() and manifest.files:
            from rich.progress import Progress

            with Progress(transient=True) as progress:
                bar = progress.add_task(f"pulling {manifest.dataset}", total=manifest.size_bytes)

                def advance(entry: FileEntry) -> None:
                    progress.advance(bar, entry.size_bytes)

                store.download_version(manifest, staging, on_file=advance)
        else:
            store.download_version(manifest, staging)
        _replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(staging: Path, dest: Path) -> None:
    """Put the complete download in place; an old DEST is removed only after that."""
    if not dest.exists():
        staging.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old-{staging.name.rsplit('-', 1)[-1]}")
    dest.rename(old)
    staging.rename(dest)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
