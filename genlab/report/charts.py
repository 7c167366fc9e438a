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


COST_CHARTS = [("nll", "train_flop", "test nll against training FLOP"), ("fid", "sample_flop", "FID against FLOP per sample")]


def cost_charts(metrics: list, revisions: list[str]) -> list[Picture]:
    """Quality against cost, one point per model and revision (``metrics``: the report's
    ``MetricRow``s; ``revisions``: [workspace, base]): test nll against training FLOP, FID against
    the FLOP of one sample, both axes logarithmic where the values span a wide range."""
    import vl_convert

    values = {(r.model, r.key): (r.new, r.old) for r in metrics}
    pics = []
    for quality, cost, title in COST_CHARTS:
        rows = []
        for model in dict.fromkeys(r.model for r in metrics):
            for side, revision in enumerate(revisions):
                q, c = (values.get((model, k), (None, None))[side] for k in (quality, cost))
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (q, c)):
                    rows.append({"model": model, "revision": revision, quality: q, cost: c})
        if not rows:
            continue
        spec = {
            "title": title, "width": 400, "height": 250, "data": {"values": rows},
            "layer": [
                {"mark": {"type": "point", "filled": True, "size": 80},
                 "encoding": {"shape": {"field": "revision", "type": "nominal", "title": None, "sort": revisions}}},
                {"mark": {"type": "text", "dx": 8, "align": "left", "fontSize": 10},
                 "encoding": {"text": {"field": "model"}}},
            ],
            "encoding": {
                "x": {"field": cost, "type": "quantitative", "scale": {"type": "log"}, "title": f"{cost} (log scale)",
                      "axis": {"format": "~s"}},
                "y": {"field": quality, "type": "quantitative", "scale": {"zero": False}, "title": quality},
                "color": {"field": "model", "type": "nominal", "legend": None},
            },
        }
        svg = vl_convert.vegalite_to_svg(spec)
        pics.append(Picture(f"cost_{slug(quality)}_{slug(cost)}.svg", svg.encode(), "image/svg+xml", title))
    return pics
