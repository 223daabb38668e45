"""One convention per idea on the command line: every output is ``-o`` / ``--out``."""

from __future__ import annotations

import typer.main

from thyromics.cli import app


def _commands(group, prefix: str = ""):
    if hasattr(group, "commands"):
        for name, cmd in group.commands.items():
            yield from _commands(cmd, f"{prefix} {name}".strip())
    else:
        yield prefix, group


def test_every_output_option_is_o_out_and_output():
    root = typer.main.get_command(app)
    seen, wrong = 0, []
    for name, cmd in _commands(root):
        for p in cmd.params:
            if p.param_type_name == "option" and {"-o", "--out", "--output"} & set(p.opts):
                seen += 1
                if set(p.opts) != {"-o", "--out", "--output"}:
                    wrong.append(f"thyromics {name}: {p.opts}")
    assert seen >= 15
    assert not wrong, "\n".join(wrong)
