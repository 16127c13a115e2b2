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


def render() -> str:
    runner = CliRunner()
    parts = ["# Command-line reference\n",
             "Generated from `--help` by `docs/generate_cli_docs.py`; do not edit by hand.\n"]
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
