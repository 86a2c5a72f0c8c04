"""``hrr`` error reporting, for every subcommand: one line and exit code 2 for expected errors, the traceback with
``--debug`` / ``HRR_DEBUG=1``, 130 on Ctrl-C; ``--version``; no heavy import in the subcommand modules."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import hrr._cli.demo
import hrr.cli
from hrr._cli import SUBCOMMANDS
from hrr.cli import main


@pytest.fixture
def bad_dataset(tmp_path: Path) -> Path:
    (tmp_path / "data" / "photos").mkdir(parents=True)
    (tmp_path / "data" / "photos" / "x.png").write_bytes(b"")
    return tmp_path / "data"


def test_a_library_error_is_one_line_naming_the_fix(bad_dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    assert main(["train", str(bad_dataset), "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"hrr train: error: no known dataset layout under '{bad_dataset}'")
    assert "'realfake' (<root>/[<group>/...]{real,fake}" in err  # the layouts it would accept


def test_oserror_reads_as_path_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    missing = tmp_path / "nowhere"
    assert main(["eval", str(missing), str(tmp_path), "--device", "cpu", "--quiet"]) == 2
    assert capsys.readouterr().err == (f"hrr eval: error: run folder '{missing}' does not exist (give the --out "
                                       "folder of a finished `hrr train`)\n")
    missing.mkdir()
    assert main(["eval", str(missing), str(tmp_path), "--device", "cpu", "--quiet"]) == 2
    assert capsys.readouterr().err == (f"hrr eval: error: {missing} is not an hrr run folder: detector.json is "
                                       "missing (give the --out folder of a finished `hrr train`)\n")

    def refuse(_args: object) -> int:
        raise PermissionError(13, "Permission denied", str(missing))

    monkeypatch.setattr(hrr._cli.demo, "_run", refuse)  # add_parser binds _run when the parser is built
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == f"hrr demo: error: {missing}: Permission denied\n"


def test_debug_flag_and_environment_show_the_traceback(bad_dataset: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    args = ["train", str(bad_dataset), "--out", str(tmp_path / "run"), "--device", "cpu"]
    with pytest.raises(ValueError, match="no known dataset layout"):
        main(["--debug", *args])
    monkeypatch.setenv("HRR_DEBUG", "1")
    with pytest.raises(ValueError, match="no known dataset layout"):
        main(args)
    monkeypatch.setenv("HRR_DEBUG", "0")
    assert main(args) == 2


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    import hrr.detect

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(hrr.detect.HRRDetector, "load", interrupted)
    assert main(["detect", str(tmp_path), str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "hrr detect: interrupted"


def test_ablate_without_msr_is_a_usage_error(bad_dataset: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ablate", str(bad_dataset), "--test", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("hrr ablate: error: --msr is required: pass the output folder of")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"hrr {version('hrr')}\n"


def test_subcommand_modules_import_nothing_heavy_at_module_level() -> None:
    """`hrr --help` builds every subcommand's parser: their module-level imports must stay in the standard library
    (torch, numpy and hrr's subpackages are imported inside the commands)."""
    cli_dir = Path(hrr.cli.__file__).parent / "_cli"
    modules = [Path(hrr.cli.__file__), cli_dir / "__init__.py", cli_dir / "_common.py"]
    modules += [cli_dir / f"{name}.py" for name in SUBCOMMANDS]
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in modules:
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed or name.startswith("hrr._cli"), f"{path.name} imports {name}"


def test_debug_flag_after_the_subcommand_and_progress_only_on_a_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HRR_DEBUG", raising=False)
    with pytest.raises(FileNotFoundError):  # --debug after the subcommand works too: the traceback comes back
        main(["eval", str(tmp_path / "nowhere"), str(tmp_path), "--debug"])
    seen: dict[str, bool] = {}

    def record(args: object) -> int:
        seen["progress"] = args.progress  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(hrr._cli.demo, "_run", record)
    assert main(["demo"]) == 0 and seen["progress"] is False  # captured stderr is not a terminal
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert main(["demo"]) == 0 and seen["progress"] is True
    assert main(["demo", "--quiet"]) == 0 and seen["progress"] is False
