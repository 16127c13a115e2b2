"""The self-contained HTML pages of the reports: PNGs embedded (and linked to the files beside
the page), tables, one style."""

from __future__ import annotations

import base64
import html
import os

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
img { max-width: 100%; } figcaption { font-size: 0.85em; color: #555; }
.guard { background: #fff6e0; border-left: 4px solid #e69f00; padding: 0.5em 1em; }
"""


def figure(directory: str, name: str, caption: str, formats=("png",)) -> str:
    """``<figure>`` embedding ``name.png`` from ``directory``, linking each of ``formats``."""
    with open(os.path.join(directory, name + ".png"), "rb") as handle:
        data = base64.b64encode(handle.read()).decode("ascii")
    links = ", ".join(f'<a href="{html.escape(name)}.{ext}">{html.escape(name)}.{ext}</a>' for ext in formats)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} — files: {links}</figcaption></figure>")


def cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")
