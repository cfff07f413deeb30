"""Global options (--home, --theme, --ascii) are accepted before the command and after it."""

import json

import pytest

from intern_tui.cli import main, parse_args

COMMAND_LINES = [
    ["demo", "--headless"],
    ["sessions", "list"],
    ["replay", "last"],
    ["mirror", "status"],
    ["gpu"],
    ["attach"],
    ["run", "--headless", "train it"],
    ["resume", "last"],
    ["do something"],  # no command: the TUI
]


@pytest.mark.parametrize("line", COMMAND_LINES, ids=lambda line: line[0])
@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_before_or_after_the_command(line, where):
    options = ["--home", "/data/it", "--theme", "intern-light", "--ascii"]
    args = parse_args(options + line if where == "before" else line + options)
    assert (args.home, args.theme, args.ascii) == ("/data/it", "intern-light", True)


def test_global_options_default_when_absent():
    args = parse_args(["sessions", "list"])
    assert (args.home, args.theme, args.ascii) == (None, None, False)


def test_an_option_after_a_subcommand_action_wins_over_one_before(tmp_path):
    args = parse_args(["--home", "first", "sessions", "list", "--home", "second"])
    assert args.home == "second"


@pytest.mark.parametrize("where", ["before", "after"])
def test_home_given_before_or_after_the_command_is_the_one_used(home, tmp_path, capsys, where):
    other = tmp_path / "other-home"
    line = ["sessions", "list", "--json"]
    argv = (
        ["--ascii", "--home", str(other), *line]
        if where == "before"
        else [*line, "--ascii", "--home", str(other)]
    )
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert (other / "sessions.db").is_file() and not (home / "sessions.db").exists()


def test_an_unknown_option_is_a_usage_error(home, capsys):
    assert main(["sessions", "list", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (True, {}, True),
        (False, {"INTERN_TUI_ASCII": "1"}, True),
        (False, {"TERM": "linux"}, True),  # the Linux console's font lacks the glyphs
        (False, {"TERM": "xterm-256color"}, False),
    ],
)
def test_ascii_from_the_flag_the_environment_or_the_linux_console(monkeypatch, flag, env, expected):
    from intern_tui.tui.glyphs import want_ascii

    monkeypatch.delenv("INTERN_TUI_ASCII", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert want_ascii(flag) is expected
