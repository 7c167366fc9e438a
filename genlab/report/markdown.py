"""report/report.md: the report's tables as a pull-request comment, within GitHub's limit."""

from __future__ import annotations

import html
import re

from genlab.report.collect import Report
from genlab.report.compare import fmt

MD_LIMIT = 65_536  # GitHub's limit on a comment's body, in characters
MARKER = "<!-- genlab-report -->"  # the first line of report.md: how the PR comment is found again


def md_cell(v) -> str:
    text = html.escape(str(v), quote=False)  # `<unk>` would vanish as an HTML tag on GitHub
    return text.replace("|", "\\|").replace("\n", " ")


def md_code(text: str) -> str:
    """A fenced block that no line of ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"~+|`+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}\n"


def md_table(header: list[str], rows: list[list[str]], cell=md_cell) -> str:
    """A Markdown table, each cell through ``cell`` (escaped for GitHub by default)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


VERDICT_MD = {"better": "✅ better", "worse": "❌ worse", "within noise": "≈ within noise", "other features": "≠ other features",
              "same": "", "": ""}


def render_md(r: Report, artifact: str | None = None, limit: int = MD_LIMIT) -> str:
    """The PR comment; sections are dropped, least useful first, to keep within ``limit``."""
    here, there = r.sides
    changed = [m for m in r.metrics if m.changed]
    same = [m for m in r.metrics if not m.changed]
    head = ["model", "metric", there, here, "change", ""]

    def rows(ms):
        return [[m.model, f"`{m.key}`", fmt(m.old), fmt(m.new), m.change, VERDICT_MD[m.verdict]] for m in ms]

    where = f"[the `report` artifact]({artifact})" if artifact else "the `report` artifact"
    parts = {
        "title": f"{MARKER}\n## genlab report: `{here}` against `{there}`\n\n",
        "notes": "".join(f"> {n}\n" for n in r.notes) + ("\n" if r.notes else ""),
        "changed": f"### Metrics changed ({len(changed)} of {len(r.metrics)})\n\n"
        + (md_table(head, rows(changed)) if changed else "No metric changed.\n"),
        "params": "\n### Params changed\n\n"
        + (md_table(["param", there, here], [[f"`{k}`", a, b] for k, a, b in r.params]) if r.params else "No param changed.\n"),
        "summary": ("\n### Summary of the workspace\n\n" + md_table(r.summary[0], r.summary[1:])) if r.summary else "",
        "text": "".join(
            f"\n**{md_cell(s.model)}**, the first lines of its first sample ({side}):\n\n{md_code(s.text[side])}"
            for s in r.samples for side in (here,) if s.text.get(side) is not None
        ),
        "same": f"\n<details><summary>{len(same)} metrics unchanged</summary>\n\n{md_table(head, rows(same))}\n</details>\n" if same else "",
        "pictures": "\nTraining curves (both revisions overlaid), samples side by side"
        + (", audio" if any(any(s.audio.values()) for s in r.samples) else "")
        + (", snapshots during training" if r.snapshots else "")
        + f": `index.html` (one offline page) and the files under `img/` in {where}.\n",
    }
    order = ["title", "notes", "changed", "params", "summary", "text", "same", "pictures"]
    names = {"same": "the unchanged metrics", "text": "the text samples", "summary": "the summary table",
             "params": "the params changed"}
    for drop in ("same", "text", "summary", "params"):
        text = "".join(parts[k] for k in order)
        if len(text) <= limit:
            return text
        if parts[drop]:
            parts[drop] = f"\n({names[drop]}: left out to keep within GitHub's {limit}-character limit; see index.html)\n"
    text = "".join(parts[k] for k in order)
    if len(text) > limit:  # the changed metrics alone are too long: cut rows
        note = f"\n\n… cut at GitHub's {limit}-character limit; every row is in index.html\n"
        room = limit - len(note) - len(parts["pictures"])
        if room < len(parts["title"]):
            return (MARKER + note)[:limit]
        text = text[:room].rsplit("\n", 1)[0] + note + parts["pictures"]
    return text
