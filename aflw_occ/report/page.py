"""HTML building blocks of the report page: escaped tables, figures, notes, the document around the sections.

The page is one self-contained file: inline CSS and SVG, JPEG samples as ``data:`` URIs, no script, nothing external.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Raw", "esc", "table", "figure", "note", "provenance", "jpeg_img", "document", "CSS"]


@dataclass(frozen=True)
class Raw:
    """A table cell or fragment that is already HTML."""

    html: str


def esc(text: object) -> str:
    return html.escape(str(text))


def _cell(c: str | Raw, tag: str) -> str:
    return f"<{tag}>{c.html if isinstance(c, Raw) else esc(c)}</{tag}>"


def table(header: Sequence[str], rows: Sequence[Sequence[str | Raw]], caption: str | Raw | None = None) -> str:
    """A table (scrolls sideways when wider than the page); ``caption`` states what produced its numbers."""
    cap = "" if caption is None else f"<caption>{caption.html if isinstance(caption, Raw) else esc(caption)}</caption>"
    head = "".join(_cell(h, "th") for h in header)
    body = "".join("<tr>" + "".join(_cell(c, "td") for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def value_ci(v: float, lo: float, hi: float, digits: int = 3) -> Raw:
    """``value`` with its interval below it, small (– when undefined)."""
    import math

    if not math.isfinite(v):
        return Raw("–")
    ci = f'<br><span class="ci">[{lo:.2f}, {hi:.2f}]</span>' if math.isfinite(lo) and math.isfinite(hi) else ""
    return Raw(f"{v:.{digits}f}{ci}")


def figure(svg: str, caption: str | Raw) -> str:
    """An inline SVG plot with its caption."""
    cap = caption.html if isinstance(caption, Raw) else esc(caption)
    return f'<figure class="plot">{svg}<figcaption>{cap}</figcaption></figure>'


def note(text: str | Raw) -> str:
    return f'<p class="note">{text.html if isinstance(text, Raw) else esc(text)}</p>'


def provenance(*parts: str) -> Raw:
    """One caption line naming what produced the numbers: protocol, conventions, data version, manifest, …"""
    return Raw(" · ".join(esc(p) for p in parts if p))


def jpeg_img(b64: str, alt: str, width: int, height: int) -> str:
    """A JPEG as a ``data:`` URI shown at its own pixel size."""
    return f'<img alt="{esc(alt)}" width="{width}" height="{height}" src="data:image/jpeg;base64,{b64}">'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px auto;color:#222;max-width:1500px;
padding:0 16px;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}
h3{margin:1.2em 0 .4em}nav{font-size:.9em;margin:.6em 0 1.2em}nav a{margin-right:.9em}
table{border-collapse:collapse;font-size:.85em;margin:6px 0 14px}
caption{caption-side:top;text-align:left;font-size:.9em;color:#444;padding:2px 0 6px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left;white-space:nowrap}
.ci{color:#666;font-size:.85em}.scroll{overflow-x:auto}.note{color:#555;font-size:.9em;max-width:70em}
figure{margin:8px 0 18px}figcaption{font-size:.85em;color:#555;max-width:70em}
figure.plot svg{max-width:100%;height:auto}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{margin:0;width:min-content}
.tile figcaption{font-size:.8em;color:#333}.tile img{display:block}
details{margin:6px 0 14px}summary{cursor:pointer;color:#245}
"""


def document(title: str, nav: Sequence[tuple[str, str]], body: Sequence[str]) -> str:
    """The page: head with inline CSS, a title, a table of contents (anchor, title), then the sections."""
    links = "".join(f'<a href="#{esc(k)}">{esc(t)}</a>' for k, t in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{esc(title)}</h1><nav>{links}</nav>\n" + "\n".join(body) + "\n</body></html>\n"
    )
