"""README's command-line block against the real command tree (issue 16): every `fluorecon …` line (and every
`fluorecon …` in backticks inside its comments) names a command that exists, with options that command has; and
every command of the tree appears in the block, so a new command, or a renamed one, fails here until the README
says so."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import typer

from fluorecon.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Python")
    return re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)


def _invocations() -> list[str]:
    """Each `fluorecon …` invocation in the block: the line's command, and commands quoted in its comment."""
    out = []
    for line in _block().splitlines():
        code, _, comment = line.partition("  #")
        if code.strip().startswith("fluorecon "):
            out.append(code.strip())
        out += re.findall(r"`(fluorecon [^`]+)`", comment)
    return out


@functools.cache
def _tree():
    return typer.main.get_command(app)


def _resolve(tokens: list[str]):
    """(command path, leaf click command, remaining tokens) for `fluorecon <tokens>`."""
    command, path = _tree(), []
    while hasattr(command, "commands") and tokens and tokens[0] in command.commands:
        path.append(tokens[0])
        command = command.commands[tokens.pop(0)]
    return " ".join(path), command, tokens


def _leaves(command=None, path=()):
    command = command or _tree()
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_readme_command_and_option_exists():
    problems = []
    lines = _invocations()
    assert len(lines) > 30
    for line in lines:
        tokens = shlex.split(line)[1:]
        path, command, rest = _resolve(tokens)
        if hasattr(command, "commands"):
            if rest == ["--version"] and not path:
                continue
            problems.append(f"{line!r}: no such command ({' '.join(rest[:1]) or 'none given'} under "
                            f"'fluorecon {path}'.strip())")
            continue
        options = {o for p in command.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))
                   if o.startswith("--")}
        for token in rest:
            name = token.split("=", 1)[0]
            if name.startswith("--") and name not in options:
                problems.append(f"{line!r}: 'fluorecon {path}' has no option {name}")
    assert not problems, "\n".join(problems)


def test_readme_shows_every_command():
    shown = {_resolve(shlex.split(line)[1:])[0] for line in _invocations()}
    missing = sorted(set(_leaves()) - shown)
    assert not missing, f"README.md's command-line block does not show: {missing}"
