"""The report's parts against hand-computed values (fast): number formatting, the direction of a
change, the Markdown size limit, the page's Content-Security-Policy, the PR comment through a
stand-in `gh`, the workflow file, and the offline template of `dvc plots show`."""

import base64
import configparser
import hashlib
import io
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from scipy.io import wavfile

from genlab.report import collect, compare, markdown, prcomment, vega
from genlab.report.collect import Picture, Report
from genlab.report.compare import MetricRow
from genlab.report.markdown import MARKER, MD_LIMIT
from genlab.report.page import STYLE, render_html
from helpers import ROOT


@pytest.mark.parametrize("value, shown", [
    (83.1412, "83.14"), (0.877778, "0.8778"), (1234.5, "1234.50"), (0.0625, "0.06250"), (-0.479308, "-0.4793"),
    (0.0, "0.00"), (-0.00006, "-6.000e-05"), (10, "10"), (None, "—"), (float("nan"), "nan"),
])
def test_values_have_two_decimals_at_least(value, shown):
    assert compare.fmt(value) == shown


def test_changes_are_signed():
    assert compare.fmt(-0.5, signed=True) == "-0.5000"
    assert compare.fmt(3, signed=True) == "+3"


@pytest.mark.parametrize("key, way", [
    ("nll", -1), ("fid", -1), ("fid_prior", -1), ("val_fid_gmm", -1), ("kid", -1), ("bits_per_char", -1),
    ("coverage", 1), ("precision", 1), ("test_accuracy", 1), ("n_test", 0), ("nn_distance_ratio", 0),
    ("fid_stderr", 0), ("nll_stderr", 0),
])
def test_direction_of_each_metric(key, way):
    assert compare.better(key) == way


def test_a_change_is_marked_better_or_worse_by_the_metric():
    assert MetricRow("vae", "nll", 91.0, 90.0).verdict == "better"
    assert MetricRow("vae", "nll", 90.0, 91.0).verdict == "worse"
    assert MetricRow("vae", "coverage", 0.8, 0.7).verdict == "worse"
    assert MetricRow("vae", "coverage", 0.7, 0.8).verdict == "better"
    assert MetricRow("vae", "n_test", 359, 360).verdict == ""  # no direction
    same = MetricRow("vae", "nll", 90.0, 90.0)
    assert (same.verdict, same.change, same.changed) == ("same", "", False)
    assert MetricRow("vae", "nll", 80.0, 90.0).change == "+10.00 (+12.5%)"
    assert MetricRow("gan", "fid", None, 3.5).change == "new"
    assert MetricRow("gan", "fid", 3.5, None).change == "removed"


def test_a_change_within_two_standard_errors_is_within_noise():
    """The VAE's nll from 83.15 to 82.90 with a standard error of 0.68 on each side: the change's
    standard error is 0.96, so 0.25 is noise; 83.15 to 80.0 is not."""
    diff = {"metrics/models/vae.json": {
        "nll": {"old": 83.15, "new": 82.90}, "nll_stderr": {"old": 0.68, "new": 0.68},
        "fid": {"old": 3.71, "new": 2.56}, "fid_stderr": {"old": 0.3, "new": 0.2},
        "kid": {"old": 0.5, "new": 0.1},
    }}
    rows = {r.key: r for r in compare.metric_rows(diff, ["vae"])}
    assert rows["nll"].noise == pytest.approx(0.68 * 2 ** 0.5) and rows["nll"].verdict == "within noise"
    assert rows["fid"].verdict == "better"  # 1.15 > 2 x 0.36
    assert (rows["kid"].noise, rows["kid"].verdict) == (None, "better")  # no standard error: as before
    assert rows["fid_stderr"].verdict == ""
    assert MetricRow("vae", "nll", 83.15, 80.0, noise=0.96).verdict == "better"


def test_sample_metrics_in_other_features_get_no_verdict():
    """One revision measured in the classifier's features, the other in the self-supervised
    network's: FID 3.7 -> 0.05 is no improvement; the likelihood keeps its verdict."""
    diff = {"metrics/models/vae.json": {
        "features": {"old": "classifier", "new": "self_supervised"},
        "fid": {"old": 3.71, "new": 0.053}, "precision": {"old": 0.5, "new": 0.7}, "fid_prior": {"old": 9.0, "new": 0.2},
        "nll": {"old": 90.0, "new": 83.15},
    }, "metrics/models/gan.json": {"features": {"old": "classifier", "new": "classifier"}, "fid": {"old": 3.0, "new": 2.0}}}
    rows = {(r.model, r.key): r for r in compare.metric_rows(diff, ["vae", "gan"])}
    assert {rows["vae", k].verdict for k in ("fid", "precision", "fid_prior")} == {"other features"}
    assert rows["vae", "nll"].verdict == "better" and rows["gan", "fid"].verdict == "better"


def test_the_spread_of_retraining_counts_into_the_noise(tmp_path):
    """The GAN's FID over four training seeds (the issue's 2.56, 7.89, 2.69, 2.92: sd 2.6): seed 0
    against seed 1 is within noise; a metric the spread file lacks keeps its own verdict."""
    import json

    (tmp_path / "bench" / "noise").mkdir(parents=True)
    (tmp_path / "bench" / "noise" / "spread.json").write_text(json.dumps(
        {"data": "digits", "models": {"gan": {"fid": {"values": [2.56, 7.89, 2.69, 2.92], "mean": 4.0, "sd": 2.6}}}}))
    training = compare.training_noise(tmp_path, "digits")
    assert training == {"gan": {"fid": 2.6}} and compare.training_noise(tmp_path, "idx") == {}
    diff = {"metrics/models/gan.json": {"fid": {"old": 2.56, "new": 7.89}, "kid": {"old": 0.1, "new": 0.9}}}
    rows = {r.key: r for r in compare.metric_rows(diff, ["gan"], training=training)}
    assert rows["fid"].noise == pytest.approx(2.6 * 2 ** 0.5) and rows["fid"].verdict == "within noise"
    assert rows["kid"].verdict == "worse"


def test_metric_rows_follow_the_models_and_the_files_order():
    diff = {
        "metrics/real.json": {"fid": {"old": 1, "new": 1}},
        "metrics/models/gan.json": {"kid": {"old": 1, "new": 2}, "fid": {"old": 3, "new": 2}},
        "metrics/models/vae.json": {"nll": {"old": 90, "new": 89}},
    }
    rows = compare.metric_rows(diff, ["vae", "gan", "real"], {"metrics/models/gan.json": ["fid", "kid"]})
    assert [(r.model, r.key) for r in rows] == [("vae", "nll"), ("gan", "fid"), ("gan", "kid"), ("real", "fid")]


def test_pick_spreads_from_first_to_last():
    assert collect.pick(list(range(10)), 4) == [0, 3, 6, 9]
    assert collect.pick([1, 2], 4) == [1, 2]


def test_dvclive_tsv_is_read():
    name, points = collect.read_tsv(b"step\tfid\n4\t231.5\n9\t222.25\n")
    assert name == "fid" and points == [(4.0, 231.5), (9.0, 222.25)]


def test_audio_is_cut_and_made_16_bit():
    buf = io.BytesIO()
    wavfile.write(buf, 1000, np.linspace(-1, 1, 30_000, dtype=np.float32))
    rate, audio = wavfile.read(io.BytesIO(collect.short_wav(buf.getvalue(), seconds=15)))
    assert rate == 1000 and audio.dtype == np.int16 and len(audio) == 15_000
    assert collect.short_wav(b"not a wav") is None


def tiny_report(n_metrics: int = 3, text: str | None = None) -> Report:
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==")
    metrics = [MetricRow("vae", "nll", 90.0, 89.5)] + [MetricRow("gan", f"fid_{i}", 3.0, 3.0) for i in range(n_metrics - 1)]
    sample = collect.ModelSamples(
        "vae", {"workspace": Picture("s.png", png, "image/png", "vae"), "main (abc)": None},
        {"workspace": text, "main (abc)": None}, {"workspace": None, "main (abc)": None}, [],
    )
    return Report(
        base="main", summary=[["model", "nll"], ["vae", "89.50"]], metrics=metrics,
        params=[("vae.lr", "0.0003", "0.001")], charts={"vae": [Picture("c.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "vae: loss")]},
        samples=[sample], snapshots={}, notes=[], sides=("workspace", "main (abc)"),
    )


def test_markdown_has_the_change_rows_and_the_marker():
    md = markdown.render_md(tiny_report(text="First Citizen:"), artifact="https://example.invalid/run/1")
    assert md.startswith(MARKER + "\n")
    assert "| vae | `nll` | 90.00 | 89.50 | -0.5000 (-0.6%) | ✅ better |" in md
    assert "| `vae.lr` | 0.0003 | 0.001 |" in md
    assert "First Citizen:" in md and "(https://example.invalid/run/1)" in md
    assert "2 metrics unchanged" in md


def test_markdown_keeps_within_githubs_limit():
    big = tiny_report(n_metrics=3000)
    full = markdown.render_md(big, limit=10**9)
    assert len(full) > MD_LIMIT
    md = markdown.render_md(big)
    assert len(md) <= MD_LIMIT and md.startswith(MARKER)
    assert "| vae | `nll` |" in md and "left out" in md
    big.metrics = [MetricRow("gan", f"fid_{i}", 3.0, 4.0) for i in range(3000)]  # all changed: rows cut
    md = markdown.render_md(big)
    assert len(md) <= MD_LIMIT and md.rstrip().endswith("artifact.")
    assert "|\n\n… cut at GitHub's" in md  # a paragraph after the table, not one more row of it
    for limit in (0, 30, 200, 1000):
        assert len(markdown.render_md(big, limit=limit)) <= limit


def test_nan_metrics_have_no_direction():
    nan = float("nan")
    both = MetricRow("vae", "nll", nan, nan)
    assert not both.changed and both.verdict == "same" and both.change == ""
    became = MetricRow("vae", "nll", 90.0, nan)
    assert became.changed and became.verdict == "" and became.change == "changed"


def test_empty_or_diverged_curves_draw_nothing(tmp_path):
    live = tmp_path / "models/vae/live/plots/metrics"
    (live / "train").mkdir(parents=True)
    (live / "val").mkdir()
    (live / "train/loss.tsv").write_text("")
    (live / "val/loss.tsv").write_text("step\tloss\n0\tnan\n1\tnan\n")
    assert collect.curves(collect.workspace(tmp_path), "vae") == {}


def test_markdown_text_and_cells_cannot_break_out():
    md = markdown.render_md(tiny_report(text="~~~\n<script>x</script> | a"))
    block = md[md.index("~~~~text"):]
    assert block.startswith("~~~~text\n~~~\n<script>") and "\n~~~~\n" in block  # a longer fence
    assert markdown.md_cell("<unk> | x") == "&lt;unk&gt; \\| x"


def test_first_lines_stop_at_the_next_sample():
    data = b"=== sample 1 of 2 ===\nab\n\n=== sample 2 of 2 ===\ncd\n"
    assert collect.first_lines(data) == "ab"


def test_page_is_self_contained_under_a_strict_policy():
    page = render_html(tiny_report())
    assert "http://" not in page and "https://" not in page  # the SVG's namespace is inside base64
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in policy and "script-src" not in policy
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy and f"<style>{STYLE}</style>" in page
    assert STYLE == (ROOT / "genlab/report/style.css").read_text(encoding="utf-8")  # the file, as it is
    assert "<script" not in page and ' style="' not in page  # inline style attributes would be blocked
    assert page.count('src="data:image/') == 2  # the chart and the sample grid


def test_bad_base_is_one_line(tmp_path, env_with_venv):
    proc = subprocess.run([sys.executable, "-m", "genlab.report", "--base", "no-such-rev", "--out", str(tmp_path / "r")],
                          cwd=ROOT, env=env_with_venv, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "BASE=no-such-rev" in proc.stderr and not (tmp_path / "r").exists()


def test_make_report_runs_the_module_with_base():
    out = subprocess.run(["make", "-n", "report", "BASE=exp-1"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "python -m genlab.report --base exp-1" in out
    out = subprocess.run(["make", "-n", "report"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "--base main" in out


# --- the pull-request comment ------------------------------------------------------------------


@pytest.fixture
def fake_gh(tmp_path):
    """A stand-in `gh` that logs its arguments, answers /user with ``login`` (a failure if empty)
    and the comments query with ``ids``."""
    log, ids, login = tmp_path / "gh.log", tmp_path / "ids", tmp_path / "login"
    ids.write_text("")
    login.write_text("")
    script = tmp_path / "gh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'case "$*" in "api user"*) [ -s {login} ] && cat {login} || {{ echo "HTTP 403" >&2; exit 1; }};;\n'
        f'  *--jq*) cat {ids};; *POST*) echo \'{{"id": 77}}\';; esac\n'
    )
    script.chmod(0o755)
    return script, log, ids, login


def test_comment_is_posted_then_updated(tmp_path, fake_gh):
    script, log, ids, _ = fake_gh
    body = tmp_path / "report.md"
    body.write_text(markdown.render_md(tiny_report()))
    assert prcomment.post("12", body, str(script)) == "posted comment 77 on pull request 12"
    ids.write_text("77\n")
    assert prcomment.post("12", body, str(script)) == "updated comment 77 on pull request 12"
    calls = [c for c in log.read_text().splitlines() if not c.startswith("api user")]
    assert calls[0].startswith("api --paginate repos/{owner}/{repo}/issues/12/comments --jq")
    assert '.user.login == "github-actions[bot]"' in calls[0]  # the workflow's token cannot read /user
    assert calls[1] == f"api -X POST repos/{{owner}}/{{repo}}/issues/12/comments -F body=@{body}"
    assert calls[3] == f"api -X PATCH repos/{{owner}}/{{repo}}/issues/comments/77 -F body=@{body}"


def test_comment_edits_only_the_same_authors(tmp_path, fake_gh):
    script, log, _, login = fake_gh
    login.write_text("octocat\n")
    body = tmp_path / "report.md"
    body.write_text(markdown.render_md(tiny_report()))
    prcomment.post("5", body, str(script))
    assert '.user.login == "octocat"' in log.read_text()


def test_comment_refuses_what_is_not_a_report(tmp_path, fake_gh, env_with_venv):
    script, log, _, _ = fake_gh
    body = tmp_path / "notes.md"
    body.write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "genlab.report.prcomment", "--pr", "3", "--gh", str(script), str(body)],
                          cwd=ROOT, env=env_with_venv, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "not a genlab report" in proc.stderr
    assert not log.exists()


def test_workflow_fetches_full_history_and_runs_only_make_targets():
    flow = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on
    steps = flow["jobs"]["report"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    runs = [s["run"] for s in steps if "run" in s]
    plain = [re.sub(r"\$\{\{[^}]*\}\}", "X", r) for r in runs]  # GitHub's expressions, spaces and all
    assert runs and all(re.fullmatch(r"make [a-z-]+( [A-Z]+=\S+)*", r) for r in plain), runs
    makefile = (ROOT / "Makefile").read_text()
    for target in {r.split()[1] for r in runs}:
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert {"repro", "report", "pr-comment"} <= {r.split()[1] for r in runs}
    assert any("BASE=origin/${{ github.base_ref }}" in r for r in runs)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"].rstrip("/") == "report"


# --- dvc plots show, offline --------------------------------------------------------------------


def test_plots_template_inlines_vega_and_loads_nothing():
    page = vega.template()
    assert "{plot_divs}" in page and "{refresh_tag}" in page and "{scripts}" not in page
    assert "<script src" not in page and "vegaEmbed" in page


def test_dvc_config_names_the_template_that_make_install_wrote():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc/config.local")  # written by make install, as the template is
    name = config['plots']['html_template']
    path = ROOT / ".dvc" / name
    assert path.is_file(), f"{path}: missing; `make install` writes it"
    assert path.read_text(encoding="utf-8") == vega.template()
    for generated in (path, ROOT / ".dvc/config.local"):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(generated)], cwd=ROOT).returncode == 0
        assert ignored, f"{generated}: generated, must not be committed"


def test_gan_snapshots_are_not_in_the_plots_page():
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    names = [p if isinstance(p, str) else next(iter(p)) for p in plots]
    assert not any("live/plots/images" in n for n in names)
    first_image = next(i for i, n in enumerate(names) if n.endswith(".png"))
    assert all(not n.endswith(".png") for n in names[:first_image])  # the curves come first


def test_text_and_music_samples_are_shown_with_an_audio_player(tmp_path):
    (tmp_path / "samples/ar/audio").mkdir(parents=True)
    (tmp_path / "samples/ar/samples.txt").write_text("=== sample 1 of 2 ===\nFirst Citizen:\nBefore we proceed\n\n=== sample 2 of 2 ===\nx\n")
    wavfile.write(tmp_path / "samples/ar/audio/sample_1.wav", 8000, np.zeros(800, np.float32))
    side = collect.workspace(tmp_path)
    s = collect.samples_of("ar", [side, collect.workspace(tmp_path / "nothing", "main (abc)")])
    assert s.text["workspace"].startswith("First Citizen:\nBefore we proceed") and s.text["main (abc)"] is None
    assert s.audio["workspace"].mime == "audio/wav" and s.audio["main (abc)"] is None
    r = tiny_report()
    r.samples = [s]
    page = render_html(r)
    assert '<audio controls src="data:audio/wav;base64,' in page and "media-src data:" in page
    assert "<pre>First Citizen:\nBefore we proceed" in page
    assert "First Citizen:" in markdown.render_md(r) and ", audio" in markdown.render_md(r)


def test_quality_against_cost_charts_have_a_point_per_model_and_revision():
    from genlab.report.charts import cost_charts

    rows = [MetricRow("vae", "nll", 83.1, 82.0), MetricRow("vae", "train_flop", 1e9, 2e9),
            MetricRow("pixelcnn", "nll", None, 77.0), MetricRow("pixelcnn", "train_flop", None, 5e10),
            MetricRow("gan", "fid", 3.0, 2.5)]  # no sample_flop: no FID chart
    pics = cost_charts(rows, ["workspace", "main"])
    assert [p.name for p in pics] == ["cost_nll_train_flop.svg"]
    svg = pics[0].data.decode()
    assert svg.count("<text") > 3 and "vae" in svg and "pixelcnn" in svg and "train_flop (log scale)" in svg


def test_no_fid_change_between_the_measured_training_seeds_is_called_better_or_worse():
    """The committed spread of `make bench-noise` (the default pipeline under training seeds 0-3):
    the report compares any two of those runs' FIDs as within noise."""
    import itertools
    import json

    spread = json.loads((ROOT / "bench" / "noise" / "spread.json").read_text())
    training = compare.training_noise(ROOT, spread["data"])
    checked = 0
    for model, rows in spread["models"].items():
        if "fid" not in rows:
            continue
        for a, b in itertools.combinations(range(len(spread["seeds"])), 2):
            diff = {f"metrics/models/{model}.json": {
                "fid": {"old": rows["fid"]["values"][a], "new": rows["fid"]["values"][b]},
                "fid_stderr": {"old": rows["fid_stderr"]["values"][a], "new": rows["fid_stderr"]["values"][b]}}}
            (row,) = [r for r in compare.metric_rows(diff, [model], training=training) if r.key == "fid"]
            assert row.verdict in ("within noise", "same"), (model, a, b, row)
            checked += 1
    assert checked >= 6 * 6  # every default image model, every pair of the four seeds
