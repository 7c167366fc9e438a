"""report/index.html: one self-contained page (pictures, charts and audio as data URIs, no script)
under a Content-Security-Policy that lets nothing load but its own data and its one style sheet,
style.css, allowed by the hash of its exact text."""

from __future__ import annotations

import base64
import hashlib
import html
from importlib import resources

from genlab.report.collect import ModelSamples, Picture, Report
from genlab.report.compare import MetricRow, fmt

STYLE = resources.files("genlab.report").joinpath("style.css").read_text(encoding="utf-8")


def data_uri(p: Picture) -> str:
    return f"data:{p.mime};base64,{base64.b64encode(p.data).decode('ascii')}"


def csp(style: str) -> str:
    """Nothing may load but data: images and audio and the one inline style sheet (by its hash)."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return f"default-src 'none'; img-src data:; media-src data:; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def e(text) -> str:
    return html.escape(str(text))


def html_table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None, left: int = 1) -> str:
    """A table; the first ``left`` columns (names) left-aligned, the rest (numbers) right-aligned."""
    out = ["<table>", "<thead><tr>" + "".join(
        f'<th class="key">{e(h)}</th>' if j < left else f"<th>{e(h)}</th>" for j, h in enumerate(header)
    ) + "</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = classes[i] if classes else ["key" if j < left else "" for j in range(len(row))]
        out.append("<tr>" + "".join(f'<td class="{c}">{e(v)}</td>' if c else f"<td>{e(v)}</td>" for v, c in zip(row, cls)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def metric_table_rows(rows: list[MetricRow]) -> list[list[str]]:
    return [[r.model, r.key, fmt(r.old), fmt(r.new), r.change, r.verdict] for r in rows]


def figure(p: Picture, cls: str) -> str:
    return f'<figure><img class="{cls}" alt="{e(p.caption)}" src="{data_uri(p)}"><figcaption>{e(p.caption)}</figcaption></figure>'


def sample_cell(s: ModelSamples, side: str) -> str:
    parts = []
    if s.grid.get(side):
        parts.append(f'<img class="samples" alt="{e(s.grid[side].caption)}" src="{data_uri(s.grid[side])}">')
    if s.text.get(side) is not None:
        parts.append(f"<pre>{e(s.text[side])}</pre>")
    if s.audio.get(side):
        parts.append(f'<div><audio controls src="{data_uri(s.audio[side])}"></audio></div>')
    return "".join(parts) or '<span class="muted">none</span>'


def render_html(r: Report) -> str:
    here, there = r.sides
    changed = [m for m in r.metrics if m.changed]
    same = [m for m in r.metrics if not m.changed]
    head = ["model", "metric", there, here, "change", ""]
    body = [f"<h1>genlab report</h1><p><b>{e(here)}</b> against <b>{e(there)}</b>. "
            "Lower is better for nll, FID and KID; higher for precision, recall, density and coverage.</p>"]
    body += [f'<p class="muted">{e(n)}</p>' for n in r.notes]
    body.append("<h2>Summary of the workspace</h2>")
    body.append(html_table(r.summary[0], r.summary[1:]) if r.summary else '<p class="muted">no metrics/summary.csv</p>')
    body.append(f"<h2>Metrics changed ({len(changed)} of {len(r.metrics)})</h2>")
    if changed:
        body.append(html_table(head, metric_table_rows(changed), [["key", "key", "", "", "", m.verdict] for m in changed], left=2))
    else:
        body.append('<p class="muted">no metric changed</p>')
    if same:
        body.append(f"<details><summary>{len(same)} metrics unchanged</summary>{html_table(head, metric_table_rows(same), left=2)}</details>")
    body.append("<h2>Params changed</h2>")
    body.append(html_table(["param", there, here], [list(p) for p in r.params]) if r.params else '<p class="muted">no param changed</p>')
    body.append(f"<h2>Training curves</h2><p class=\"muted\">solid: {e(here)}; dashed: {e(there)}</p>")
    for model, pics in r.charts.items():
        body.append(f'<h3>{e(model)}</h3><div class="charts">' + "".join(
            f'<img alt="{e(p.caption)}" src="{data_uri(p)}">' for p in pics) + "</div>")
    if not r.charts:
        body.append('<p class="muted">no DVCLive curves</p>')
    body.append("<h2>Samples</h2>")
    if r.samples:
        body.append("<table><thead><tr><th></th>" + "".join(f"<th>{e(s.model)}</th>" for s in r.samples) + "</tr></thead><tbody>")
        for side in (there, here):
            body.append(f"<tr><td>{e(side)}</td>" + "".join(f'<td class="sample">{sample_cell(s, side)}</td>' for s in r.samples) + "</tr>")
        body.append("</tbody></table>")
        extras = [p for s in r.samples for p in s.extras]
        if extras:
            body.append("<details><summary>more pictures of the workspace</summary>"
                        + "".join(figure(p, "samples") for p in extras) + "</details>")
    for model, pics in r.snapshots.items():
        body.append(f"<h2>{e(model)} while training</h2><p class=\"muted\">{len(pics)} of the snapshots it logged, first to last</p>")
        body.append("".join(figure(p, "snapshot") for p in pics))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp(STYLE)}">\n'
        f"<title>genlab report: {e(here)} against {e(there)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
