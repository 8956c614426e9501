"""The root command: every command group loads lazily and answers --help; usage errors
exit 2 with click's message, not a traceback."""

from __future__ import annotations

import pytest

from lockgate.cli.main import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_and_shows_help(name: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_root_help_lists_every_command_without_importing_stages(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out


def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--nope"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --nope" in err and "Traceback" not in err
    assert main(["nosuch"]) == 2
    assert "No such command 'nosuch'" in capsys.readouterr().err
