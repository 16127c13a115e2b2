"""The README's set-up commands, .ci/run, docs/cli.md and the README strategy table stay in sync with the code."""

import os
import re
import subprocess
import sys

from conftest import ROOT


def readme_commands():
    lines = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()
    start = lines.index("```") + 1
    return lines[start:start + 2]


def test_ci_runs_exactly_the_readme_commands():
    """CI runs the README's first command first and its test command last; in between it only
    installs what the optional parts' tests need (extras, the torch CPU build, the server)."""
    ci = [line for line in open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read().splitlines()
          if line and not line.startswith(("#", "set ", "export ", "cd "))]
    assert ci[0] == readme_commands()[0] and ci[-1] == readme_commands()[1]
    assert readme_commands()[0].startswith("python3 -m pip install . && alselect pick sample_data/")
    for line in ci[1:-1]:
        assert re.search(r'pip"? install', line) and "pytest" not in line, line


def test_generated_docs_are_current():
    """docs/cli.md (from --help) and the README strategy table (from the registry)."""
    script = os.path.join(ROOT, "docs", "generate_docs.py")
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
