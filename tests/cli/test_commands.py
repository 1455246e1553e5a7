"""The command table in :mod:`batchport.cli` matches what each command module registers:
``--help`` lists every command from the table without importing the modules."""

from __future__ import annotations

import argparse

import pytest

from batchport.cli import _COMMANDS, build_parser


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(choice.dest, choice.help) for choice in sub._choices_actions]


def test_table_lists_what_the_modules_register_in_order() -> None:
    full = _commands(build_parser())
    assert full == [(name, helptext) for name, (_, helptext) in _COMMANDS.items()]


def test_help_from_the_table_reads_as_with_every_module_loaded() -> None:
    assert build_parser([]).format_help() == build_parser().format_help()


@pytest.mark.parametrize("command", list(_COMMANDS))
def test_the_named_command_gets_its_real_parser(command: str) -> None:
    lazy = build_parser([command])
    full = build_parser()
    assert _commands(lazy) == _commands(full)
    sub = next(a for a in lazy._actions if isinstance(a, argparse._SubParsersAction))
    real = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices[command].format_help() == real.choices[command].format_help()


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from batchport.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["nope"])
    assert stopped.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
