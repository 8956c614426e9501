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


@pytest.mark.parametrize(("argv", "expected"), [
    (["injest", "x.csv"], "Did you mean `ingest`?"),
    (["modles", "list"], "Did you mean `models`?"),
    (["pipelines", "ouput"], "Did you mean 'output'?"),
    (["ingest", "sreve"], "Did you mean `serve`?"),
])
def test_mistyped_commands_get_close_matches(argv: list[str], expected: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_option_typo_names_the_command_typed_not_the_hidden_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "orders.csv", "--tabel", "orders"]) == 2
    err = capsys.readouterr().err
    assert "--table" in err and "lockgate ingest file" not in err
    assert "Usage: lockgate ingest [OPTIONS]" in err
    # Typed in full, the sub-command is named as typed.
    assert main(["ingest", "file", "orders.csv", "--tabel", "orders"]) == 2
    assert "lockgate ingest file" in capsys.readouterr().err


def test_estimator_parameter_typo_gets_the_close_match(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "orders", "--set", "max_deth=3"]) == 1
    err = capsys.readouterr().err
    assert "no parameter `max_deth`. Did you mean `max_depth`" in err
    assert main(["train", "orders", "-m", "logistic", "--set", "C=0.5", "--set",
                 "penality=l1"]) == 1
    assert "Did you mean `penalty`" in capsys.readouterr().err


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(list(sys.modules)))"],
        capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_and_import_stay_off_the_heavy_libraries() -> None:
    """`lockgate --help` and `import lockgate` load neither the store's SQLAlchemy, nor
    pydantic, nor Rich, nor any stage: their imports are most of a slow start-up."""
    heavy = {"sqlalchemy", "pydantic", "pydantic_settings", "alembic", "rich", "polars",
             "numpy", "lockgate.store", "lockgate.tracking", "lockgate.pipelines"}
    helped = _modules_after("from lockgate.cli.main import main\n"
                            "import contextlib, io\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    main(['--help'])")
    assert not heavy & helped, heavy & helped
    imported = _modules_after("import lockgate")
    assert not heavy & imported, heavy & imported
    lazily = _modules_after("import lockgate\nassert lockgate.Settings and lockgate.start_run")
    assert {"lockgate.config", "lockgate.tracking"} <= lazily
