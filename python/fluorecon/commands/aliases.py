"""One option name per concept across all commands (issue 16), and the old names as hidden aliases.

``GROUPS`` maps each canonical option name to the names commands used before. The `fluorecon`
group (:class:`AliasGroup`) rewrites an old name to the canonical one before a command parses its
options, only for a command that has the canonical option and not the old one, and prints which
name to use; the old names appear in no help text. tests/commands/test_option_names.py walks every
command and fails if one uses a name of a group other than the canonical one.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

#: canonical name → the names it replaces
GROUPS: dict[str, tuple[str, ...]] = {
    "--background": ("--offset", "--camera-offset"),  # camera offset (+ background) in ADU, subtracted first
    "--num-iter": ("--iterations",),
    "--pixel-size-nm": ("--pixel-nm",),
}
OLD = {old: new for new, olds in GROUPS.items() for old in olds}


def _option_names(command) -> set[str]:
    return {o for p in getattr(command, "params", ()) if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}


def rewrite(command, args: list[str]) -> list[str]:
    """`args` of the leaf `command` with old option names replaced by the canonical ones (a note on stderr)."""
    names = _option_names(command)
    out = []
    for token in args:
        if token == "--":
            out.extend(args[len(out):])
            break
        name, eq, value = token.partition("=")
        new = OLD.get(name)
        if new is not None and new in names and name not in names:
            if new in args or any(a.startswith(new + "=") for a in args):
                raise typer.BadParameter(f"{name} is the old name of {new}; give {new} once.", param_hint=name)
            print(f"Note: {name} is now {new}; the old name will go.", file=sys.stderr)
            token = new + eq + value
        out.append(token)
    return out


class AliasGroup(TyperGroup):
    """The top-level group: resolves the sub-command path, then rewrites old option names for its leaf."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        leaf, i = command, 0
        while hasattr(leaf, "commands") and i < len(rest) and rest[i] in leaf.commands:
            leaf, i = leaf.commands[rest[i]], i + 1
        if not hasattr(leaf, "commands"):
            rest = rest[:i] + rewrite(leaf, rest[i:])
        return name, command, rest
