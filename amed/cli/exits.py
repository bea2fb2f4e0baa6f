"""The one place where errors become exit codes: 0 success, 1 operation failed, 2 bad usage
or invalid input. Errors reach stderr as one line, never as a traceback."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click

from amed.cli.names import NameNotFound
from amed.errors import (
    AlertConfigError,
    ConfigError,
    ProjectClaimed,
    StateDirError,
    StoreError,
    StoreURLError,
)
from spec import SpecError
from state.errors import StateError, StoreMismatch

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

# click >= 8.2 raises this for a group called with no arguments; its message is the help.
NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_NeverRaised", (click.UsageError,), {})
)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(
        exc,
        SpecError
        | ConfigError
        | AlertConfigError
        | StoreURLError
        | StoreMismatch
        | ProjectClaimed
        | NameNotFound
        | click.UsageError,
    ):
        return EXIT_INVALID
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return EXIT_FAILED


def message_for(exc: BaseException) -> str | None:
    if isinstance(
        exc,
        SpecError
        | ConfigError
        | AlertConfigError
        | StoreError
        | StateError
        | StateDirError
        | NameNotFound,
    ):
        return f"error: {exc}" if not isinstance(exc, SpecError) else str(exc)
    if isinstance(exc, click.exceptions.Exit):
        return None
    if isinstance(exc, click.Abort | KeyboardInterrupt):
        return "aborted"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{exc.strerror or exc}"
    if isinstance(exc, sqlite3.Error):
        return f"error: state database: {exc}"
    return None


def usage_line(exc: click.UsageError) -> str:
    """A usage error as one line, like every other error: the command, what is wrong, and
    where to read how it is used (click's own form takes four lines)."""
    where = exc.ctx.command_path if exc.ctx is not None else "ame"
    return f"error: {where}: {exc.format_message().rstrip('.')} (see `{where} --help`)"


class Cli(click.Group):
    """A click group whose `main` maps every known error to its exit code."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else EXIT_OK
        except NO_ARGS_IS_HELP as exc:
            exc.show()  # the help a group prints when called alone
            code = EXIT_INVALID
        except click.UsageError as exc:
            click.echo(usage_line(exc), err=True)
            code = EXIT_INVALID
        except click.ClickException as exc:
            exc.show()
            code = EXIT_FAILED
        except (
            SpecError,
            ConfigError,
            AlertConfigError,
            StoreError,
            StateError,
            StateDirError,
            NameNotFound,
            OSError,
            sqlite3.Error,
            click.Abort,
        ) as exc:
            click.echo(message_for(exc), err=True)
            code = exit_code_for(exc)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except KeyboardInterrupt:
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code
