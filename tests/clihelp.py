"""Helpers for driving the CLI through click's CliRunner."""

from click.testing import CliRunner

from alselect.cli import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def assert_clean_error(result, *fragments):
    """Non-zero exit, exactly one 'Error: ...' line on stderr, no traceback, nothing on stdout."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
