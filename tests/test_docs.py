"""Run the ```python blocks of README.md and docs/*.md.

Each document's blocks run in order in one shared namespace (a later block may use names from an earlier one),
in a fresh temporary working directory, with the Agg matplotlib backend. A failure names the document and the
line of the failing block; tracebacks point at lines of the markdown file.

A block that cannot run offline is marked in the markdown on the line right above its fence::

    <!-- doc-test: skip (needs the SD-XL refiner weights, a download) -->

The reason is required; every skipped block is reported as a pytest skip with its reason.

A one-line ``print(...)`` whose comment starts with the printed value is checked: ``print(x)  # [0 1 2 3]``, or
the comment alone on the line right below the call. The comment, whitespace ignored, must start with what the call
printed; anything after the value is a free note. That keeps the numbers in the docs equal to what the code prints
today. A comment that describes the value instead of showing it must start with a letter.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
SKIP = re.compile(r"^\s*<!--\s*doc-test:\s*skip\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
MARKER = re.compile(r"<!--\s*doc-test")
# A comment is checked as printed output when it starts like a value: a bracket, a quote, a digit or a sign.
OUTPUT_COMMENT = re.compile(r"""^[\[({'"\d-]""")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason, when marked as skipped

    @property
    def where(self) -> str:
        return f"{rel(self.path)}:{self.line}"


def rel(path: Path) -> str:
    """``path`` relative to the repository root (as given when outside it)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with its language and the skip marker right above it (if any)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match.groups()
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start + 1 : j]]
        skip = None
        if start > 0 and MARKER.search(lines[start - 1]):
            marker = SKIP.match(lines[start - 1])
            if marker is None or not (marker.group("reason") or "").strip():
                raise ValueError(
                    f"{rel(path)}:{start}: a doc-test marker must read "
                    f"'<!-- doc-test: skip (reason) -->' with a non-empty reason, got {lines[start - 1].strip()!r}"
                )
            skip = marker.group("reason").strip()
        blocks.append(Block(path, start + 1, lang.lower(), "\n".join(body) + "\n", skip))
        i = j + 1
    return blocks


def python_blocks(path: Path) -> list[Block]:
    return [block for block in parse_blocks(path) if block.lang in ("python", "py")]


def orphan_markers(path: Path) -> list[int]:
    """Lines of doc-test markers that are not right above a ```python block."""
    marked = {block.line - 1 for block in python_blocks(path) if block.skip is not None}
    lines = path.read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(lines, start=1) if MARKER.search(line) and n not in marked]


def checked_prints(block: Block) -> dict[int, str]:
    """``{markdown line: expected output}`` for the one-line ``print(...)  # <value>`` statements of a block."""
    source_lines = block.code.splitlines()
    expected: dict[int, str] = {}
    for node in ast.walk(ast.parse(block.code)):
        if not (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "print"
            and node.lineno == node.end_lineno
        ):
            continue
        rest = source_lines[node.lineno - 1][node.end_col_offset :].strip()
        if not rest and node.lineno < len(source_lines):
            rest = source_lines[node.lineno].strip()  # the output on the comment line right below
        if rest.startswith("#"):
            comment = rest[1:].strip()
            if OUTPUT_COMMENT.match(comment):
                expected[block.line + node.lineno] = comment
    return expected


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


class RecordingPrint:
    """``print`` for the doc namespace: prints as usual and records the text per markdown line of the call."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.by_line: dict[int, list[str]] = {}

    def __call__(self, *args: object, **kwargs: object) -> None:
        if kwargs.get("file") is not None:  # printing to a file: not output to check
            print(*args, **kwargs)
            return
        buffer = io.StringIO()
        print(*args, **{**kwargs, "file": buffer})
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != self.filename:
            frame = frame.f_back
        if frame is not None:
            self.by_line.setdefault(frame.f_lineno, []).append(buffer.getvalue())
        print(buffer.getvalue(), end="")


def run_blocks(path: Path, namespace: dict[str, object]) -> list[Block]:
    """Run the unskipped python blocks of ``path`` in ``namespace``; return the skipped ones."""
    filename = str(path)
    recorder = RecordingPrint(filename)
    namespace.setdefault("__name__", "__doc_test__")
    namespace["print"] = recorder
    skipped = []
    for block in python_blocks(path):
        if block.skip is not None:
            skipped.append(block)
            continue
        # Pad with blank lines so that line numbers in tracebacks are lines of the markdown file.
        code = compile("\n" * block.line + block.code, filename, "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == filename]
            at = f" (line {lines[-1]})" if lines else ""
            details = "".join(traceback.format_exception(exc))
            pytest.fail(f"{block.where}{at}: the block raised {type(exc).__name__}: {exc}\n\n{details}", pytrace=False)
        for line, comment in checked_prints(block).items():
            printed = recorder.by_line.get(line)
            got = printed[-1].strip() if printed else None
            if got is None or not squeeze(comment).startswith(squeeze(got)):
                pytest.fail(f"{rel(path)}:{line}: printed {got!r}, the comment says {comment!r}", pytrace=False)
    return skipped


ALL_BLOCKS = [block for path in DOCS for block in python_blocks(path)]
SKIPPED = [block for block in ALL_BLOCKS if block.skip is not None]
RUNNABLE_DOCS = [path for path in DOCS if any(block.skip is None for block in python_blocks(path))]


@pytest.fixture
def doc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import matplotlib
    import matplotlib.pyplot as plt
    import torch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HRR_CACHE_DIR", str(tmp_path / "cache"))
    matplotlib.use("Agg")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same float reduction order on every machine; no thread spinning on a shared CPU
    yield tmp_path
    torch.set_num_threads(threads)
    plt.close("all")


@pytest.mark.parametrize("path", RUNNABLE_DOCS, ids=rel)
def test_doc_python_blocks_run(path: Path, doc_env: Path) -> None:
    run_blocks(path, {})


@pytest.mark.parametrize("block", SKIPPED, ids=lambda b: b.where)
def test_doc_python_block_skipped(block: Block) -> None:
    assert block.skip, f"{block.where}: a skipped block needs a reason"
    compile(block.code, block.where, "exec")  # a skipped block must still be valid Python
    pytest.skip(f"{block.where}: {block.skip}")


def test_doc_markers_and_fences_are_well_formed() -> None:
    for path in DOCS:
        assert orphan_markers(path) == [], f"{rel(path)}: a doc-test marker is not right above a python block"
        fences = [line for line in path.read_text(encoding="utf-8").splitlines() if FENCE.match(line)]
        assert len(fences) % 2 == 0, f"{rel(path)}: unbalanced code fences"
    assert len(ALL_BLOCKS) > len(SKIPPED) > 0


# The harness itself, on small made-up documents.


def test_parser_reads_blocks_lines_and_skip_reasons(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n<!-- doc-test: skip (needs a GPU) -->\n```python\nimport torch\n```\n\n```bash\nls\n```\n"
        "```python\nx = 1\n```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(doc)
    assert [(b.line, b.skip, b.code) for b in blocks] == [(4, "needs a GPU", "import torch\n"), (11, None, "x = 1\n")]
    assert orphan_markers(doc) == []
    for marker in ("<!-- doc-test: skip -->", "<!-- doc-test: skip ( ) -->", "<!-- doc-test: skipp (x) -->"):
        doc.write_text(f"{marker}\n```python\nx = 1\n```\n", encoding="utf-8")
        with pytest.raises(ValueError, match="non-empty reason"):
            python_blocks(doc)
    doc.write_text("<!-- doc-test: skip (x) -->\n\n```python\nx = 1\n```\n", encoding="utf-8")
    assert orphan_markers(doc) == [1]


def test_runner_names_the_failing_line_and_checks_printed_values(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("text\n\n```python\nx = 1\nraise RuntimeError('boom')\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md:3 \(line 5\): the block raised RuntimeError: boom"):
        run_blocks(doc, {})
    doc.write_text("```python\nx = [1, 2]\n```\n\n```python\nprint(x)  # [1, 3]\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md:6: printed '\[1, 2\]', the comment says '\[1, 3\]'"):
        run_blocks(doc, {})
    doc.write_text("```python\nprint('a')\n# 'b'\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"doc\.md:2: printed 'a', the comment says \"'b'\""):
        run_blocks(doc, {})
    doc.write_text(
        "<!-- doc-test: skip (no data) -->\n```python\nundefined_name\n```\n"
        "```python\nprint([1,  2])  # [1, 2]  a note\nprint(3)  # a description, not checked\n"
        "print({'a': 1})\n# {'a': 1}\n```\n",
        encoding="utf-8",
    )
    skipped = run_blocks(doc, {})
    assert [b.skip for b in skipped] == ["no data"]


# Tables of docs/afr.md against the command that printed them (the cheap ones; see "Reproducing the measured tables").


def markdown_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.strip().startswith("|")
    ]


@pytest.mark.parametrize(("study", "ignored_column"), [("init", "CPU s"), ("lambda", None)])
def test_afr_tables_hold_what_their_command_prints(study: str, ignored_column: str | None, doc_env: Path) -> None:
    import runpy

    studies = runpy.run_path(str(ROOT / "examples" / "afr_studies.py"))["STUDIES"]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        studies[study]()
    printed = markdown_rows(output.getvalue())
    doc = markdown_rows((ROOT / "docs" / "afr.md").read_text(encoding="utf-8"))
    headers = [row for row in printed if row[0] in {"init", "n", "`lam`"}]
    assert headers, output.getvalue()
    keep = [i for i, name in enumerate(headers[0]) if name != ignored_column]
    doc_rows = {tuple(row[i] for i in keep if i < len(row)) for row in doc}
    for row in printed:
        assert tuple(row[i] for i in keep) in doc_rows, f"docs/afr.md lacks the row {row} that `{study}` printed"


# Every `hrr <command> --flag` the docs show must be a flag that `hrr <command> --help` lists.

COMMANDS = ("demo", "train", "eval", "detect", "explain", "ablate", "regenerate")
COMMAND_USE = re.compile(r"\bhrr(?:\.cli)?((?:[ \t]+--[\w-]+)*)[ \t]+(" + "|".join(COMMANDS) + r")\b([^`#;|&\n]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def cli_uses(text: str) -> list[tuple[str, str, str]]:
    """``(command, flag, the doc's text)`` for every flag given to an ``hrr`` command, and ``("", flag, ...)`` for
    flags given to ``hrr`` itself, in code blocks and inline code (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", text)  # shell continuation lines
    text = re.sub(r"\n\s+(?=\[)", " ", text)  # the wrapped lines of a usage synopsis: "    [--flag ...]"
    uses = []
    for match in COMMAND_USE.finditer(text):
        before, command, after = match.groups()
        line = match.group(0).strip()
        uses += [("", flag, line) for flag in FLAG.findall(before)]
        uses += [(command, flag, line) for flag in FLAG.findall(after)]
    return uses


def cli_help(command: str) -> str:
    from hrr.cli import main

    output = io.StringIO()
    with contextlib.redirect_stdout(output), pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    return output.getvalue()


def test_cli_uses_parser() -> None:
    text = (
        "```bash\nhrr train data --groups a,b \\\n    --epochs 10 --out runs  # --not-this\n"
        "hrr eval r d --jpeg 9\n```\n"
        "```text\nhrr detect RUN [--json]\n           [--quiet]\n```\n"
        "`hrr --debug regenerate src out --scales 64` and `python -m hrr.cli demo --quick` and `hrr <command> --help`"
    )
    assert [(c, f) for c, f, _ in cli_uses(text)] == [
        ("train", "--groups"), ("train", "--epochs"), ("train", "--out"), ("eval", "--jpeg"),
        ("detect", "--json"), ("detect", "--quiet"),
        ("", "--debug"), ("regenerate", "--scales"), ("demo", "--quick"),
    ]  # fmt: skip


def test_cli_flags_named_in_the_docs_exist() -> None:
    helps: dict[str, str] = {}
    missing = []
    for path in DOCS:
        for command, flag, line in cli_uses(path.read_text(encoding="utf-8")):
            if command not in helps:
                helps[command] = cli_help(command)
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[command]):
                missing.append(f"{rel(path)}: `hrr {command}` has no {flag} ({line!r})")
    assert {command for command in helps} >= {"", "demo", "regenerate", "train", "eval", "detect"}
    assert not missing, "\n".join(missing)
