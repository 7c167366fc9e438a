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
