"""What every dashboard page shares: escaping, links, the header, the style and the frame.

A page is a title and named parts. The server sends them as one self-contained HTML file;
`/api/live` sends the same parts as JSON, and the page's one inline script swaps in the
parts that changed (`amed.web.live`), so nothing a person opened closes. Every value from
users (names, errors, task output) goes through `esc`.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from amed.web.listing import age
from spec import format_bytes

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;
gap:.3rem 1rem;align-items:baseline}
header h1{font-size:1.1rem;margin:0}header a{color:#fff}
header nav a{margin-right:.8rem;font-size:.9rem}
header .meta{color:#aab3c0;font-size:.85rem}
header button{font:inherit;font-size:.8rem;padding:.1rem .6rem;border-radius:1rem;
border:1px solid #aab3c0;background:#2b3444;color:#fff;cursor:pointer}
#health{flex-basis:100%;font-size:.85rem;color:#d5dbe3}
#health b.ok{color:#8fd6a8}#health b.bad{color:#ffaca3}
#health span{margin-right:1rem;display:inline-block}
main{padding:1rem;max-width:75rem;margin:0 auto}
h2{font-size:1rem;margin:1.4rem 0 .5rem}
a{color:#1f5fbf}
.muted{color:#6b7685}.small{font-size:.85rem}
.panel{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:.75rem 1rem;
margin-bottom:1rem}
.bar{height:.9rem;background:#e3e7ed;border-radius:5px;overflow:hidden;margin:.4rem 0}
.bar span{display:block;height:100%;background:#2f7d4f}
.bar.warn span{background:#c98a00}.bar.full span{background:#c0392b}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{white-space:nowrap;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#5b6573;
background:#fafbfc}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.proj{display:block;font-size:.8rem;font-weight:400;color:#6b7685}
.err{color:#a12a1e;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;
font-weight:600;background:#e3e7ed;color:#3b4452;white-space:nowrap}
.s-ready,.s-succeeded{background:#d8f0e0;color:#1d6b3c}
.s-failed,.s-blocked{background:#fbdcd8;color:#a12a1e}
.s-running,.s-uploading,.s-waiting{background:#dbe8fb;color:#1f4f99}
.s-evicted{background:#efe3f7;color:#6a3d8a}
.alerts li{margin:.2rem 0}
.sev-critical{color:#a12a1e;font-weight:600}.sev-warning{color:#8a6100;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dt{color:#5b6573}dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f4f6;padding:.5rem;
border-radius:6px;margin:.3rem 0;font-size:.85rem}
ul.links{list-style:none;padding:0;margin:0}ul.links li{margin:.1rem 0}
ol.history{list-style:none;padding:0;margin:0}
ol.history li{background:#fff;border:1px solid #dde1e7;border-radius:8px;
padding:.5rem .75rem;margin-bottom:.5rem}
ol.history time{font-size:.8rem;color:#6b7685;margin-right:.5rem}
form.filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}
form.filter input,form.filter select,form.filter button{font:inherit;padding:.2rem .4rem}
.pager{display:flex;gap:1rem;margin:.5rem 0}
svg.plot{width:100%;height:auto;max-height:16rem;background:#fff;border:1px solid #dde1e7;
border-radius:8px}
svg.plot text{font-size:11px;fill:#5b6573}
svg.graph{background:#fff;border:1px solid #dde1e7;border-radius:8px}
svg.graph text{font-size:12px}
.legend span{margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;
vertical-align:-1px}
@media (max-width:700px){
main{padding:.6rem}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards{background:none}
table.cards tr{background:#fff;border:1px solid #dde1e7;border-radius:8px;
margin-bottom:.6rem;padding:.4rem .75rem}
table.cards td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.15rem 0;
text-align:right}
table.cards td::before{content:attr(data-label);color:#5b6573;font-size:.85rem;
text-align:left;white-space:nowrap}
table.cards td.name{display:block;text-align:left;font-size:1.05rem;font-weight:600;
border-bottom:1px solid #eef0f3;padding-bottom:.3rem;margin-bottom:.2rem}
table.cards td.name::before{content:none}
table.cards td.empty{display:none}
table.cards td pre{text-align:left}
}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def size_text(size_bytes: int | None) -> str:
    return format_bytes(size_bytes) if size_bytes is not None else "–"


def clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_tag(moment: datetime | None, now: datetime, *, relative: bool = True) -> str:
    if moment is None:
        return "–"
    iso = clock(moment)
    shown = age(moment, now) if relative else iso
    return f'<time datetime="{esc(moment.isoformat())}" title="{esc(iso)}">{esc(shown)}</time>'


def dataset_href(project: str, name: str) -> str:
    return f"/datasets/{quote(project, safe='')}/{quote(name, safe='')}"


def task_href(project: str, name: str) -> str:
    return f"/tasks/{quote(project, safe='')}/{quote(name, safe='')}"


def run_href(run_id: str, project: str | None = None, dataset: str | None = None) -> str:
    """A run's page; with its `project` (and `dataset`, for a producing run), the page
    finds the run's events through the log's index instead of reading the whole log."""
    return with_query(f"/runs/{quote(run_id, safe='')}", project=project, dataset=dataset)


def link(href: str, text: object) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def with_query(path: str, **params: object) -> str:
    """`path` with the parameters that have a value (None and "" are left out)."""
    kept = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    if not kept:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(kept)


def badge(status: str) -> str:
    return f'<span class="badge s-{esc(status)}">{esc(status)}</span>'


def cell(label: str, content: str, css: str = "") -> str:
    classes = css + (" empty" if content in ("", "–") else "")
    return f'<td data-label="{esc(label)}" class="{classes.strip()}">{content}</td>'


def table(columns: tuple[str, ...], rows: list[str], table_id: str) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    return (
        f'<div class="scroll"><table class="cards" id="{esc(table_id)}"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


@dataclass(frozen=True)
class Page:
    """A page: its title and its parts, (id, inner HTML) in the order shown. `health` is
    the header's line about the daemon, a part of its own."""

    title: str
    parts: tuple[tuple[str, str], ...]
    health: str = ""

    def live_parts(self) -> dict[str, dict[str, str]]:
        """What `/api/live` sends: each part's HTML and its digest."""
        every = (("health", self.health), *self.parts)
        return {pid: {"digest": digest(body), "html": body} for pid, body in every}


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _part(part_id: str, body: str, tag: str = "div") -> str:
    return f'<{tag} id="{esc(part_id)}" data-live data-digest="{digest(body)}">{body}</{tag}>'


def render(page: Page, *, script: str, now: datetime) -> str:
    """The whole HTML file. Without script it is a static snapshot; with it, the pause
    button shows and the parts follow the state."""
    nav = " ".join(
        link(href, text)
        for href, text in (("/", "Data sets"), ("/lineage", "Lineage"), ("/events", "Events"))
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(page.title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1><a href="/">amed</a></h1><nav>{nav}</nav>'
        f'<span class="meta"><span id="live-state">{esc(clock(now))}</span> '
        '<button type="button" id="live-toggle" aria-pressed="false" hidden>Pause</button>'
        f"</span>{_part('health', page.health)}</header>"
        f"<main>{''.join(_part(pid, body) for pid, body in page.parts)}</main>"
        f"<script>{script}</script></body></html>\n"
    )
