"""CLI parsing: dotted overrides may come before or after options."""

import pytest

from rllr.cli import build_parser, parse_args


def test_overrides_after_options_are_kept_in_order():
    args = parse_args(build_parser(), ["reproduce", "rllr", "a.b=1", "--config", "x.yaml", "c=2", "--out", "o", "d.e=3"])
    assert args.paper == "rllr" and args.config == "x.yaml" and args.out == "o"
    assert args.overrides == ["a.b=1", "c=2", "d.e=3"]


def test_unknown_option_or_override_without_overrides_is_an_error(capsys):
    with pytest.raises(SystemExit):
        parse_args(build_parser(), ["sft", "--config", "x.yaml", "--nope"])
    assert "unrecognized arguments: --nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(build_parser(), ["models", "list", "x=1"])
