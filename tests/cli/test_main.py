"""The root command: every command group loads lazily and answers --help; usage errors
exit 2 with click's message, not a traceback."""

from __future__ import annotations

import pytest

from lockgate.cli.main import COMMANDS, main
from lockgate.config import Settings


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
             "numpy", "typer", "lockgate.store", "lockgate.tracking", "lockgate.pipelines"}
    helped = _modules_after("from lockgate.cli.main import main\n"
                            "import contextlib, io\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    main(['--help'])")
    assert not heavy & helped, heavy & helped
    imported = _modules_after("import lockgate")
    assert not heavy & imported, heavy & imported
    lazily = _modules_after("import lockgate\nassert lockgate.Settings and lockgate.start_run")
    assert {"lockgate.config", "lockgate.tracking"} <= lazily


def test_runs_list_starts_without_pydantic_numpy_or_polars(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lockgate runs list` needs SQLAlchemy and Rich, nothing else heavy: not pydantic
    (Typer's option coercion, replaced by ``cli/plain_params.py`` for simple options),
    not NumPy (the run writers behind ``lockgate.tracking``), not Polars, not Alembic
    (the store is migrated already)."""
    from lockgate.store import Store

    Store.open(settings)  # migrated here, so the command's start-up is what is measured
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    heavy = {"pydantic", "numpy", "polars", "pandas", "pyarrow", "alembic", "sklearn",
             "lockgate.artifacts", "lockgate.tracking.run"}
    for args in (["runs", "list"], ["runs", "list", "--limit", "5", "-t", "team=ml", "--asc",
                                    "--filter", "metrics.auc > 0.5", "--json"]):
        loaded = _modules_after("from lockgate.cli.main import main\n"
                                "import contextlib, io\n"
                                "with contextlib.redirect_stdout(io.StringIO()):\n"
                                f"    assert main({args!r}) == 0")
        assert not heavy & loaded, (args, heavy & loaded)
        assert "sqlalchemy" in loaded


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "Input should be a valid integer, unable to parse string as an integer"),
    ("1.5", "Input should be a valid integer, unable to parse string as an integer"),
    ("0", "Input should be greater than or equal to 1"),
    ("-3", "Input should be greater than or equal to 1"),
])
def test_plain_option_coercion_keeps_typers_errors(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], value: str, message: str) -> None:
    """Values the plain coercion does not take itself go to Typer's: same refusals."""
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["runs", "list", "--limit", value]) == 2
    assert message in capsys.readouterr().err


def test_plain_option_coercion_converts_like_typer() -> None:
    """Each simple type, list and bound converts to what Typer's pydantic path gives,
    including the forms only Typer's path accepts (" 3 ", "1_000"), which it defers."""
    import typer
    import typer.main

    from lockgate.cli.plain_params import plain_coercion

    seen: dict[str, object] = {}
    app = typer.Typer()

    @app.command()
    def probe(n: int = typer.Option(1, "-n", min=1), x: float = typer.Option(0.5, "-x"),
              c: int = typer.Option(5, "-c", min=0, max=10, clamp=True),
              s: str = typer.Option("a", "-s"), tag: list[str] = typer.Option([], "--tag"),
              nums: list[int] = typer.Option([], "--nums"),
              flag: bool = typer.Option(False, "--flag")) -> None:
        seen.update(n=n, x=x, c=c, s=s, tag=tag, nums=nums, flag=flag)

    command = typer.main.get_command(app)
    plain_coercion(command)
    cases = [
        (["-n", "7", "-x", "2", "-c", "99", "-s", "é", "--tag", "a", "--tag", "b", "--nums",
          "3", "--flag"], {"n": 7, "x": 2.0, "c": 10, "s": "é", "tag": ["a", "b"],
                           "nums": [3], "flag": True}),
        (["-n", " 3 ", "-x", "1e-3", "-c", "-4", "--nums", "1_000"],
         {"n": 3, "x": 0.001, "c": 0, "nums": [1000], "flag": False}),
        ([], {"n": 1, "x": 0.5, "c": 5, "s": "a", "tag": [], "nums": []}),
    ]
    for args, expected in cases:
        seen.clear()
        command.main(args=args, standalone_mode=False)
        for key, value in expected.items():
            assert seen[key] == value and type(seen[key]) is type(value), (args, key, seen)
