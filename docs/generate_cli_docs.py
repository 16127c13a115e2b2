"""Regenerate docs/cli.md from the commands' --help (run after changing any option).

    python docs/generate_cli_docs.py          # rewrite docs/cli.md
    python docs/generate_cli_docs.py --check  # exit 1 if docs/cli.md is stale (used by the tests)
"""

import os
import sys

from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from alselect.cli import cli  # noqa: E402

TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli.md")


CONVENTIONS = """## Conventions

**Streams.** Data goes to stdout and nothing else; messages, warnings and progress bars go to
stderr. `-` means stdin for every input path (`pick -`, `inspect -`, `score -`, `--labeled -`,
`--picks -`, any `pack` input) and stdout for every `-o` (including `pack -o -`, which writes
the HDF5 file to a temporary file and then streams it). Only one input of a command can read
stdin.

**Inputs are opened, not stat-checked**, so pipes work wherever a file does: process
substitution (`--labeled <(grep done log.txt)`, i.e. `/dev/fd/63`), FIFOs and `/dev/stdin`.
A pool or `.npz` read from a stream is first copied to a temporary file (HDF5 and zip need
random access); `.npy` arrays stay memory-mapped. Messages name the input as given (a pool
read from stdin is `<stdin>`), never a temporary path.

**Outputs (`-o`).**
- A regular file is written to a temporary file beside it and renamed over it only when
  complete: a failed or interrupted command leaves an existing file untouched. A symlink is
  followed (the file it points to is replaced, the link kept).
- An output that is the same file as one of the command's inputs (the same path, a symlink
  or a hard link to it) is refused with one `Error:` line before any work.
- A target that exists and is not a regular file (a character device such as `/dev/null` or
  `/dev/full`, a FIFO) is opened and written directly, never replaced. `/dev/stdout`,
  `/dev/stderr` and `/dev/fd/N` write to that descriptor as it is (`>> log` keeps appending).
- Errors name the path given, never the temporary file.

**Temporary files** are named `.NAME.alselect-PID.tmp` (beside the output, or in `$TMPDIR` for
stdin copies and streamed pools) and removed on every exit path, interrupts included. A
process killed outright (`kill -9`) cannot remove its own; the next run writing to the same
directory removes every such file whose process no longer exists.

**Signals.** SIGINT (Ctrl-C) and SIGTERM end every command promptly, including inside the
numba selection kernels and the `balanced` solver: temporary files are removed, no output is
written, stderr says `Error: interrupted by SIGINT` (or `SIGTERM`). SIGHUP (the terminal
closed) is handled the same way.

**Exit status.** 0 success; 1 an error (one `Error: ...` line on stderr saying what is wrong
and how to fix it); 2 a usage error (unknown option, missing argument); 130 interrupted by
SIGINT; 143 interrupted by SIGTERM; 129 interrupted by SIGHUP.
"""


def render() -> str:
    runner = CliRunner()
    parts = ["# Command-line reference\n",
             "Generated from `--help` by `docs/generate_cli_docs.py`; do not edit by hand.\n",
             CONVENTIONS]
    for args in [[]] + [[name] for name in sorted(cli.commands)]:
        result = runner.invoke(cli, args + ["--help"], prog_name="alselect", terminal_width=100)
        title = " ".join(["alselect"] + args)
        parts.append(f"## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = open(TARGET, encoding="utf-8").read() if os.path.exists(TARGET) else ""
        if current != text:
            print("docs/cli.md is stale: run python docs/generate_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    with open(TARGET, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
