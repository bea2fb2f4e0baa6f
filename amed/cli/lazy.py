"""A command group whose subcommands are imported when they are called, as click's docs show
for lazy loading: `ame ds list` must not pay for importing what `pull` or `task` need."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from amed.cli.exits import Cli


class LazyCli(Cli):
    """`lazy` maps a subcommand's name to `module:attribute`; `aliases` maps another name
    to a subcommand's, which works everywhere but is listed once, under its own name."""

    def __init__(
        self,
        *args: Any,
        lazy: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.aliases = dict(aliases or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = self.aliases.get(cmd_name, cmd_name)
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
        return command
