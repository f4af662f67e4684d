"""A self-contained HTML report: figures embedded as PNG data URIs, tables as HTML, no scripts."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1em; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #555; font-size: .9em; }
figure { margin: 1em 0; } figcaption { font-size: .9em; color: #444; }
"""


@dataclass
class Section:
    """A titled part of the report; ``body`` is HTML."""

    title: str
    body: str
    anchor: str = ""


def figure_html(fig: Figure, caption: str = "", dpi: int = 80, alt: str = "") -> str:
    """Embed a matplotlib figure as a PNG data URI (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = html.escape(alt or caption or "figure")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{text}" src="data:image/png;base64,{data}"/>{cap}</figure>'


def table_html(frame: pd.DataFrame, float_format: str = "{:.3f}", index: bool = True) -> str:
    """A pandas table as HTML."""
    return frame.to_html(float_format=float_format.format, index=index, border=0, na_rep="-")


def paragraph(text: str, note: bool = False) -> str:
    """Escaped text as a paragraph."""
    return f'<p class="{"note" if note else ""}">{html.escape(text)}</p>'


def write_report(path: str | Path, title: str, sections: list[Section]) -> Path:
    """Write the sections as one HTML file with a table of contents; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    toc = "".join(
        f'<li><a href="#{s.anchor or f"s{i}"}">{html.escape(s.title)}</a></li>'
        for i, s in enumerate(sections)
    )
    body = "".join(
        f'<section id="{s.anchor or f"s{i}"}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
        for i, s in enumerate(sections)
    )
    path.write_text(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><nav><ol>{toc}</ol></nav>{body}</body></html>",
        encoding="utf-8",
    )
    return path
