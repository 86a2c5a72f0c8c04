"""`hrr demo --quick` end to end: prints the AFR table and writes the report folder."""

from __future__ import annotations

import re

import pytest

from hrr.cli import main


@pytest.mark.slow
def test_demo_quick_writes_report(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HRR_CACHE_DIR", str(tmp_path / "cache"))  # cold cache, and none left in the user's home
    assert main(["demo", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "CorrentropySAM" in printed and "LogisticRegression" in printed
    table = (tmp_path / "afr.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| additive") or line.startswith("| breast")]
    assert len(rows) == 4
    for row in rows:
        accs = [float(v) for v in re.findall(r"\| (0\.\d{3}|1\.000) ", row)]
        assert len(accs) == 2 and all(0.5 < a <= 1.0 for a in accs)
    # On the noisy additive task the robust additive machine must beat the logistic baseline.
    noisy = next(r for r in rows if r.startswith("| additive | 30%"))
    csam, lr = (float(v) for v in re.findall(r"\| (0\.\d{3}) ", noisy)[:2])
    assert csam > lr
    assert "4/4 informative" in noisy
    for task in ("additive", "breast_cancer"):
        assert (tmp_path / f"afr_components_{task}.png").stat().st_size > 10_000
    # The detection benchmark: four variants x six generators, a report and its pictures, a filled cache.
    assert "Table IV analogue" in printed and "Table V analogue" in printed
    report = (tmp_path / "benchmark.md").read_text()
    assert "Run: `hrr demo --quick`: smaller sizes and one seed" in report  # not to be mistaken for the full run
    for variant in ("| baseline |", "| w/o AFR |", "| w/o MSR |", "| HRR |"):
        # Table IV (Acc, AP, real / fake accuracy with the ECE) and Table V (mean, held-out mean)
        assert report.count(variant) == 5, variant
    assert "| real acc |" in report and "| ddpm | ddpm-i2i |" in report and "| ECE |" in report
    assert report.count("| shortcut |") == 2 and "- *shortcut*: no CNN" in report  # Table IV only, defined
    held_out_acc = [float(r.split("|")[-2]) for r in report.splitlines() if r.startswith("| ") and "variant" not in r
                    and "---" not in r][:5]
    assert all(50.0 <= a <= 100.0 for a in held_out_acc), held_out_acc
    for picture in ("images_grid.png", "cams.png"):
        assert (tmp_path / picture).stat().st_size > 10_000
    assert list((tmp_path / "cache" / "demo").glob("images-*.npz"))
    # the MSR model: a diffusers pipeline folder in the cache, loaded through from_pretrained
    assert [p.name for p in (tmp_path / "cache" / "demo").glob("msr-ldm-*/model_index.json")] == ["model_index.json"]
    assert list((tmp_path / "benchmark" / "seed0" / "eval" / "HRR").glob("reliability.png"))
    assert list((tmp_path / "benchmark" / "seed0" / "eval" / "HRR").glob("pr_curves.png"))


def test_cli_requires_a_command(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "demo" in capsys.readouterr().err


def test_python_dash_m_hrr_runs_the_command_line() -> None:
    # For an environment whose scripts folder is not on PATH: `python -m hrr` is the `hrr` command.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hrr", "demo", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: hrr demo")
    bad = subprocess.run([sys.executable, "-m", "hrr"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "demo" in bad.stderr
