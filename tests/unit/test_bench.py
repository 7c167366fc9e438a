"""The benchmark code runs (tiny sizes; nothing about speed is asserted here: see `make bench`)."""

import pytest

from bench.run import run, table

KEYS = {
    "gemm_gflops", "train_images_per_s", "train_fraction_of_peak", "reference_images_per_s",
    "speedup_vs_reference", "iwae_samples_per_s", "iwae_fraction_of_peak", "repro_noop_s",
}


def test_benchmark_smoke():
    results = run(gemm_n=64, steps=2, repeats=1, n_images=300, iwae_images=2, k=5, chunk=1, repro=False)
    assert KEYS <= set(results)
    assert all(results[k] > 0 for k in KEYS - {"repro_noop_s"})
    assert results["train_step_mflop_per_image"] == 3 * 2 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784) / 1e6
    assert "speedup_vs_reference" in table(results)


def test_text_sweep_marks_the_validation_minimum(tmp_path):
    """`make bench-text`'s Markov sweep on a small text: one row per (order, discount), the
    best validation nll marked."""
    from bench.text import sweep
    from genlab.config.params import DataParams
    from genlab.data.prepare import prepare

    (tmp_path / "t.txt").write_text("the cat sat on the mat and the dog ran to the house\n" * 60)
    prepare(DataParams(source="text", path=str(tmp_path / "t.txt")), tmp_path / "data" / "prepared")
    rows = [line.split(" | ") for line in sweep(tmp_path).splitlines()[2:]]
    assert len(rows) == 9 + 4 * 3  # orders 2..10, and three fixed discounts at orders 5..8
    vals = [float(r[2].split()[0]) for r in rows]
    assert sum("(best)" in r[2] for r in rows) == 1 and "(best)" in rows[vals.index(min(vals))][2]
    assert (tmp_path / "sweep.md").read_text().startswith("| markov.order |")


def test_text_parts_score_the_network_the_chain_and_their_mixture(tmp_path):
    """`make bench-text`'s table of the ar's parts: the mixture's test row is what the evaluate
    stage scores, and the mixture on validation is no worse than either part (its weight was fit there)."""
    from bench.text import parts
    from genlab.config.params import DataParams
    from genlab.data.prepare import load_prepared, prepare
    from genlab.evaluation.evaluate import text_history
    from genlab.models import registry
    from genlab.models.ar import AutoRegressive

    (tmp_path / "t.txt").write_text("the cat sat on the mat and the dog ran to the house\n" * 60)
    prepare(DataParams(source="text", path=str(tmp_path / "t.txt")), tmp_path / "data" / "prepared")
    data = load_prepared(tmp_path / "data" / "prepared")
    m = AutoRegressive(AutoRegressive.Params(context=6, layers=1, width=16, heads=2, ngram=3), (), data.n_levels)
    (tmp_path / "models" / "ar").mkdir(parents=True)
    registry.save(m, "ar", data.meta, tmp_path / "models" / "ar" / "model.pt")
    assert parts(tmp_path) == "The ar mixes in no chain (ar.ngram: 0).\n"
    m.finish_fit(data.train.x, data.val.x)
    registry.save(m, "ar", data.meta, tmp_path / "models" / "ar" / "model.pt")
    rows = [line.split(" | ") for line in parts(tmp_path).splitlines()[2:]]
    assert [r[0].strip("| ").split(" (")[0].split(",")[0] for r in rows] == ["the network alone", "the chain alone", "the mixture"]
    val = [float(r[1]) for r in rows]
    assert val[2] <= min(val[:2]) + 1e-4
    scored = -m.eval().log_prob_stream(data.test.x.long(), text_history(m, data)).mean().item()
    assert float(rows[2][2].strip(" |")) == pytest.approx(scored, abs=1e-4)
    assert (tmp_path / "parts.md").exists()


def test_music_sweep_marks_the_validation_minimum(tmp_path):
    """`make bench-music`'s chord-chain sweep on a small JSON of pieces: one row per order, the best
    validation nll marked."""
    import json

    from bench.music import ORDERS, sweep
    from genlab.config.params import DataParams
    from genlab.data.prepare import prepare

    chords = [[60, 64, 67], [62, 65, 69], [55, 59, 62], [57, 60, 64]]
    piece = lambda k: [chords[(i * k) % 4] for i in range(12)]
    (tmp_path / "m.json").write_text(json.dumps({"train": [piece(k) for k in (1, 2, 3)], "valid": [piece(1)], "test": [piece(3)]}))
    (tmp_path / "params.yaml").write_text("models: [markov]\n")
    prepare(DataParams(source="pianoroll", path=str(tmp_path / "m.json")), tmp_path / "data" / "prepared")
    rows = [line.split(" | ") for line in sweep(tmp_path, "params.yaml").splitlines()[2:]]
    assert len(rows) == len(ORDERS)
    vals = [float(r[1].split()[0]) for r in rows]
    assert sum("(best)" in r[1] for r in rows) == 1 and "(best)" in rows[vals.index(min(vals))][1]

    # the ar head comparison: one trained ar per output, the best on validation marked
    from bench.music import OUTPUTS, PUBLISHED, heads, published

    (tmp_path / "params.yaml").write_text("models: [ar]\nar: {arch: gru, width: 8, context: 4, epochs: 1, batch_size: 4}\n")
    rows = [line.split(" | ") for line in heads(tmp_path, "params.yaml", seeds=(0, 3)).splitlines()[2:]]
    assert [(r[0].strip("| "), r[1]) for r in rows] == [(o, "0") for o in OUTPUTS] + [("both", "3")]  # the default head, another seed
    vals = [float(r[2].split()[0]) for r in rows[: len(OUTPUTS)]]
    assert sum("(best)" in r[2] for r in rows) == 1 and "(best)" in rows[vals.index(min(vals))][2]
    # the measured models, lowest nll first, above the published ones
    (tmp_path / "metrics" / "models").mkdir(parents=True)
    for name, nll in (("markov", 6.07), ("ar", 5.5)):
        (tmp_path / "metrics" / "models" / f"{name}.json").write_text(json.dumps({"nll": nll, "nll_stderr": 0.2}))
    lines = published(tmp_path).splitlines()[2:]
    assert "`ar`" in lines[0] and "5.500 ± 0.200" in lines[0] and "`markov`" in lines[1]
    assert len(lines) == 2 + len(PUBLISHED) and "RNN-NADE" in lines[2]


def test_gpu_check_runs_its_every_step(tmp_path):
    """`make gpu-check`'s script, on the CPU with tiny configs (what it measures needs a GPU)."""

    from bench.gpu_check import main

    results = main(["--device", "cpu", "--quick", "--work", str(tmp_path), "--skip-mnist"])
    assert set(results["digits"]) == {"highest", "high"}
    assert results["digits"]["highest"]["metrics"]["vae"]["nll"] > 0
    assert "| vae |" in results["digits_table"] and set(results["throughput"]) == {"highest", "high"}
    assert (tmp_path / "gpu_check.json").exists()


def test_results_file_has_the_header_and_the_tables(tmp_path):
    """Every benchmark's committed record (bench/results.py): title, command, date, wall time,
    machine (CPU, cores, torch, device), then each table under its heading; written atomically."""
    import datetime
    import os

    import torch

    from bench.results import cpu_model, key_value_table, write_results

    when = datetime.datetime(2026, 12, 1, 9, 5, tzinfo=datetime.timezone.utc)
    table = key_value_table({"gemm_gflops": 184.91, "device": "cpu"})
    text = write_results(tmp_path / "b" / "results.md", "Speed (`make bench`)", "python -m bench.run",
                         [("Figures", table), ("Other", "| a |\n|---|\n| 1 |\n")], 2316.4, "cpu", now=when)
    assert (tmp_path / "b" / "results.md").read_text() == text
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["results.md"]  # no temporary file left
    lines = text.splitlines()
    assert lines[0] == "# Speed (`make bench`)" and "`python -m bench.run`" in lines[2]
    assert "- date: 2026-12-01 09:05 UTC" in lines
    assert "- wall time: 38 min 36 s (2,316 s)" in lines
    machine = next(line for line in lines if line.startswith("- machine: "))
    assert cpu_model() in machine and f"{os.cpu_count()} cores" in machine
    assert f"torch {torch.__version__}" in machine and machine.endswith("device cpu")
    assert "## Figures\n\n| key | value |\n|---|---|\n| `gemm_gflops` | 184.910 |\n| `device` | cpu |\n" in text
    assert text.endswith("## Other\n\n| a |\n|---|\n| 1 |\n")


def test_bench_run_writes_its_results_file(tmp_path):
    """`make bench`'s script end to end (tiny sizes): the figures in results.json and results.md."""
    from bench.run import main

    results = main(["--quick", "--out", str(tmp_path / "results.json"), "--results", str(tmp_path / "results.md")])
    text = (tmp_path / "results.md").read_text()
    assert text.startswith("# Speed (`make bench`)\n") and "`python -m bench.run --quick --device cpu" in text
    assert "- wall time: " in text and "device cpu" in text
    assert f"| `gemm_gflops` | {results['gemm_gflops']:,.3f} |" in text
    assert (tmp_path / "results.json").exists()


def test_pipeline_results_sections(tmp_path):
    """A pipeline benchmark's results file holds the summary stage's table and each stage's time."""
    from bench.pipeline import results_sections

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "summary.md").write_text("| model | nll |\n|---|---|\n| vae | 83.92 |\n")
    run = {"seconds": {"preprocess": 1.5, "train@vae": 2400.0}, "total_seconds": 2401.5}
    (h1, summary), (h2, stages) = results_sections(tmp_path, run)
    assert "summary.md" in h1 and "| vae | 83.92 |" in summary
    assert "| train@vae | 2,400.0 |" in stages and stages.splitlines()[-1] == "| total | 2,401.5 |"
    (tmp_path / "params.yaml").write_text("generate:\n  n_samples: 1000\n")
    run["seconds"].update({"generate@vae": 4.0, "generate@gan": 0.5})
    (_, sampling), = results_sections(tmp_path, run)[2:]
    assert "| vae | 1,000 x 2 | 4.0 | 500.0 |" in sampling and "| gan | 1,000 x 1 | 0.5 | 2,000.0 |" in sampling


def test_pipeline_results_show_each_gradient_models_validation(tmp_path):
    """The training table: best epoch and validation loss from train.json, the last epoch's from
    DVCLive's curve; a model fitted in closed form (no validation loss) has no row."""
    from bench.pipeline import training_table

    (tmp_path / "models" / "ar" / "live" / "plots" / "metrics" / "val").mkdir(parents=True)
    (tmp_path / "models" / "ar" / "live" / "plots" / "metrics" / "val" / "nll.tsv").write_text(
        "step\tnll\n0\t2.5\n1\t1.39912\n2\t1.40871\n")
    (tmp_path / "models" / "ar" / "train.json").write_text(
        '{"best_epoch": 2, "best_val_loss": 1.39912, "epochs": 3, "steps": 30, "train_dtype": "bfloat16"}')
    (tmp_path / "models" / "markov").mkdir()
    (tmp_path / "models" / "markov" / "train.json").write_text("{}")
    run = {"seconds": {"train@markov": 0.4, "train@ar": 3085.5, "generate@ar": 23.2}}
    table = training_table(tmp_path, run)
    assert "| ar | 3 | 2 | 1.3991 | 1.4087 | bfloat16 | 3,085.5 |" in table and "markov" not in table
    assert training_table(tmp_path, {"seconds": {"train@markov": 0.4}}) is None


def test_resume_keeps_the_committed_record(tmp_path):
    """`make bench-resume` starts afresh in its folder, but for its results.md."""
    from bench.resume import clear

    (tmp_path / "models" / "vae").mkdir(parents=True)
    (tmp_path / "models" / ".vae.resume.pt").write_bytes(b"x")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "prepared").symlink_to(tmp_path / "models")
    for name in ("results.md", "result.json", "params.yaml"):
        (tmp_path / name).write_text(name)
    clear(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"] and (tmp_path / "results.md").read_text() == "results.md"


def test_bench_settings_are_set_as_dvc_exp_run_sets_them():
    from bench.pipeline import apply_settings

    params = apply_settings({"pixelcnn": {"layers": 6}}, ["pixelcnn.max_steps=500", "generate.n_samples=1000", "models=[mixture,flow]"])
    assert params == {"pixelcnn": {"layers": 6, "max_steps": 500}, "generate": {"n_samples": 1000}, "models": ["mixture", "flow"]}


def test_noise_spread_is_over_seeds_without_counts_or_costs():
    from bench.noise import seeded, spread

    params = {"models": ["vae", "independent"], "vae": {"seed": 0, "lr": 1.0}, "independent": {"smoothing": 0.5}}
    assert seeded(params, 3) == {"models": ["vae", "independent"], "vae": {"seed": 3, "lr": 1.0}, "independent": {"smoothing": 0.5}}
    runs = {0: {"vae": {"fid": 2.0, "nll": 80.0, "n_samples": 180, "train_flop": 5}},
            1: {"vae": {"fid": 4.0, "nll": 80.0, "n_samples": 180, "train_flop": 5, "only_here": 1.0}}}
    out = spread(runs)
    assert set(out["vae"]) == {"fid", "nll"}
    assert out["vae"]["fid"] == {"values": [2.0, 4.0], "mean": 3.0, "sd": pytest.approx(2 ** 0.5)}
    assert out["vae"]["nll"]["sd"] == 0.0


def test_unlabelled_bench_crops_and_checks():
    from bench import unlabelled

    x = unlabelled.crops()
    assert x.shape == (600, 3, 32, 32) and x.dtype.name == "uint8" and x.std() > 10
    rows = {"independent": {"features": "self_supervised", "fid": 10.0}, "vae": {"features": "self_supervised", "fid": 1.0},
            "gan": {"features": "self_supervised", "fid": 12.0}, "real": {"features": "self_supervised", "fid": 1.5}}
    table = unlabelled.colour_checks(rows)
    assert "| every image model's fid is in self-supervised features | True |" in table
    assert "| independent fid / real fid (>= 5) | 6.7 |" in table
    assert "| vae fid < independent fid | True (1 < 10) |" in table and "| gan fid < independent fid | False (12 < 10) |" in table
    assert unlabelled.spearman([1, 2, 3], [10, 30, 20]) == 0.5


def test_levers_record_is_named_by_how_the_cpu_multiplies_bf16(monkeypatch):
    """bench-levers keeps one record per kind of CPU: AMX first, then AVX-512 BF16, else none."""
    import torch

    from genlab.runtime import cpu_bf16

    for amx, avx, kind in [(True, True, "amx"), (False, True, "avx512-bf16"), (False, False, "no-bf16")]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx)
        assert cpu_bf16() == kind
