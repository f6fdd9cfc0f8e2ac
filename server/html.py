"""Plain Chinese HTML pages for browsers that ask for ``text/html`` (or ``?f=html``). No JavaScript, no CDN.

Each page is a title, some paragraphs and tables, and the JSON alternative linked at the top.
"""
from __future__ import annotations

from html import escape
from typing import Any, Iterable, Sequence

from .responses import HTMLResponse

_CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{background:#f6f6f6;padding:0 .2em}nav a{margin-right:1em}"""


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href, quote=True)}">{escape(text)}</a>'


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw_columns: Sequence[int] = ()) -> str:
    """An HTML table; cells in ``raw_columns`` are already HTML (links), the rest are escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = "" if cell is None else (str(cell) if i in raw_columns else escape(str(cell)))
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def page(title: str, *sections: str, json_href: str | None = None, nav: Sequence[tuple[str, str]] = (),
         status_code: int = 200) -> HTMLResponse:
    links = "".join(link(h, t) for h, t in nav)
    if json_href:
        links += link(json_href, "JSON")
    text = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><nav>{links}</nav><h1>{escape(title)}</h1>"
            + "".join(sections) + "</body></html>")
    return HTMLResponse(text, status_code=status_code)


def para(text: str) -> str:
    return f"<p>{escape(text)}</p>"
