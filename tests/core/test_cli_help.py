"""Every option of every faceaudit command says what it does in --help."""

from __future__ import annotations

import argparse

from faceaudit.cli import build_parser


def test_every_cli_option_has_help_text():
    missing = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
            elif not action.help and action.dest != "help":
                missing.append(" ".join([*prefix, *(action.option_strings or [action.dest])]))

    walk(build_parser(), ["faceaudit"])
    assert missing == []
