"""Start-up cost of the package: ``hrr --help`` and ``import hrr`` against ``python -c "import torch"``.

Each command runs in a fresh interpreter, several times, interleaved, so a change in load hits all of them alike;
the table reports medians, peak resident memory (from the child's rusage) and the heavy modules each one loads.
Target (issue "One house"): ``hrr --help`` <= 25 % of the time of ``import torch``, and ``import hrr`` imports none
of diffusers, transformers, accelerate, cv2 or matplotlib.

Run:  python benchmarks/bench_import.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "diffusers", "transformers", "accelerate", "cv2", "matplotlib", "sklearn")
PROBE = "import sys, json; {code}; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"


def _run(argv: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of one fresh process."""
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    hrr_script = shutil.which("hrr") or os.path.join(os.path.dirname(sys.executable), "hrr")
    commands = {
        'python -c "import torch"': [sys.executable, "-c", PROBE.format(code="import torch", heavy=HEAVY)],
        'python -c "import hrr"': [sys.executable, "-c", PROBE.format(code="import hrr", heavy=HEAVY)],
        "hrr --help": [hrr_script, "--help"],
        'python -c "from hrr import CorrentropySAM"': [
            sys.executable, "-c", PROBE.format(code="from hrr import CorrentropySAM", heavy=HEAVY)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {}
    loaded: dict[str, str] = {}
    for _ in range(args.repeats):
        for name, argv in commands.items():
            seconds, out = _run(argv)
            times[name].append(seconds)
            if name != "hrr --help":
                loaded[name] = ", ".join(json.loads(out.strip().splitlines()[-1])) or "none"
    # Peak memory: one extra run each, alone, so that the children's maximum is this command's.
    for name, argv in commands.items():
        code = (f"import resource, subprocess; subprocess.run({argv!r}, capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        peaks[name] = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout) / 1024
    base = statistics.median(times['python -c "import torch"'])
    print("| command | median | ratio to `import torch` | peak RSS | heavy modules loaded |")
    print("|---|---|---|---|---|")
    for name in commands:
        med = statistics.median(times[name])
        heavy = loaded.get(name, "n/a (a console script)")
        print(f"| `{name}` | {med:.3f} s | {med / base:.0%} | {peaks[name]:.0f} MiB | {heavy} |")
    ratio = statistics.median(times["hrr --help"]) / base
    print(f"\n`hrr --help` / `import torch` = {ratio:.0%} (target <= 25 %: {'met' if ratio <= 0.25 else 'NOT met'}); "
          f"{args.repeats} interleaved runs each.")


if __name__ == "__main__":
    main()
