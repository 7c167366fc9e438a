"""The benchmark code runs (tiny sizes; nothing about speed is asserted here: see `make bench`)."""

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
    from genlab.data.prepare import prepare
    from genlab.config.params import DataParams

    (tmp_path / "t.txt").write_text("the cat sat on the mat and the dog ran to the house\n" * 60)
    prepare(DataParams(source="text", path=str(tmp_path / "t.txt")), tmp_path / "data" / "prepared")
    rows = [line.split(" | ") for line in sweep(tmp_path).splitlines()[2:]]
    assert len(rows) == 9 + 4 * 3  # orders 2..10, and three fixed discounts at orders 5..8
    vals = [float(r[2].split()[0]) for r in rows]
    assert sum("(best)" in r[2] for r in rows) == 1 and "(best)" in rows[vals.index(min(vals))][2]
    assert (tmp_path / "sweep.md").read_text().startswith("| markov.order |")


def test_music_sweep_marks_the_validation_minimum(tmp_path):
    """`make bench-music`'s chord-chain sweep on a small JSON of pieces: one row per order, the best
    validation nll marked."""
    import json

    from bench.music import ORDERS, sweep
    from genlab.data.prepare import prepare
    from genlab.config.params import DataParams

    chords = [[60, 64, 67], [62, 65, 69], [55, 59, 62], [57, 60, 64]]
    piece = lambda k: [chords[(i * k) % 4] for i in range(12)]  # noqa: E731
    (tmp_path / "m.json").write_text(json.dumps({"train": [piece(k) for k in (1, 2, 3)], "valid": [piece(1)], "test": [piece(3)]}))
    (tmp_path / "params.yaml").write_text("models: [markov]\n")
    prepare(DataParams(source="pianoroll", path=str(tmp_path / "m.json")), tmp_path / "data" / "prepared")
    rows = [line.split(" | ") for line in sweep(tmp_path, "params.yaml").splitlines()[2:]]
    assert len(rows) == len(ORDERS)
    vals = [float(r[1].split()[0]) for r in rows]
    assert sum("(best)" in r[1] for r in rows) == 1 and "(best)" in rows[vals.index(min(vals))][1]


def test_gpu_check_runs_its_every_step(tmp_path):
    """`make gpu-check`'s script, on the CPU with tiny configs (what it measures needs a GPU)."""

    from bench.gpu_check import main

    results = main(["--device", "cpu", "--quick", "--work", str(tmp_path), "--skip-mnist"])
    assert set(results["digits"]) == {"highest", "high"}
    assert results["digits"]["highest"]["metrics"]["vae"]["nll"] > 0
    assert "| vae |" in results["digits_table"] and set(results["throughput"]) == {"highest", "high"}
    assert (tmp_path / "gpu_check.json").exists()
