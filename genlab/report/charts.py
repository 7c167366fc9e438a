"""The training curves as charts: Vega-Lite specs rendered offline to SVG by vl-convert."""

from __future__ import annotations

from genlab.report.collect import Picture, slug


def chart_svg(title: str, rows: list[dict], revisions: list[str]) -> str:
    """A line chart (Vega-Lite, rendered offline by vl-convert): colour = split, dashes = revision."""
    import vl_convert

    values = [r["value"] for r in rows]
    log = min(values) > 0 and max(values) / min(values) > 20  # an FID falling from 200 to 3
    spec = {
        "title": title,
        "width": 400,
        "height": 200,
        "data": {"values": rows},
        "mark": {"type": "line", "point": len(rows) <= 40},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step (epoch)"},
            "y": {"field": "value", "type": "quantitative", "title": title.split(": ")[-1],
                  "scale": {"type": "log"} if log else {"zero": False}},
            "color": {"field": "split", "type": "nominal", "title": None},
            "strokeDash": {"field": "revision", "type": "nominal", "title": None, "sort": revisions},
        },
    }
    return vl_convert.vegalite_to_svg(spec)


def model_charts(model: str, mine: dict[str, list[dict]], theirs: dict[str, list[dict]], revisions: list[str]) -> list[Picture]:
    """One chart per metric of ``model`` (the loss and FID first), both revisions' curves overlaid."""
    pics = []
    for name in sorted(set(mine) | set(theirs), key=lambda n: (n not in ("loss", "fid"), n)):
        rows = mine.get(name, []) + theirs.get(name, [])  # never empty: curves() keeps no empty list
        svg = chart_svg(f"{model}: {name}", rows, revisions)
        pics.append(Picture(f"curve_{slug(model)}_{slug(name)}.svg", svg.encode(), "image/svg+xml", f"{model}: {name}"))
    return pics
