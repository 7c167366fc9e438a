"""End to end on text: `dvc exp run -S data.source=text ...` in a temporary git + DVC repository,
on a small generated text, with a tiny `ar`; and the one-line failures of models and params
that do not fit text."""

import json

import numpy as np
import pytest

from helpers import copy_project, exp_run, init_repo, sh, stages_run

pytestmark = pytest.mark.slow

MODELS = ["independent", "markov", "ar"]
SETTINGS = [
    "data.source=text", "data.path=text.txt", "data.val_fraction=0.1", "data.test_fraction=0.1",
    "models=[independent,markov,ar]",
    "ar.epochs=2", "ar.width=32", "ar.layers=1", "ar.heads=2", "ar.context=32",
    "generate.n_samples=60", "generate.length=80",
]
TEXT_KEYS = {"nll", "bits_per_char", "perplexity", "n_test", "oov_rate", "novelty_char8", "novelty_char16",
             "novelty_word3", "longest_copy", "distinct_2", "n_samples", "sample_length"}


def generated_text(n_words: int = 4000, seed: int = 0) -> str:
    """Words from a seeded word-bigram process, in lines: structure a character chain can learn."""
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "quick", "brown", "fox"]
    follow = rng.dirichlet(np.full(len(words), 0.3), size=len(words))
    out, w = [], 0
    for i in range(n_words):
        w = rng.choice(len(words), p=follow[w])
        out.append(words[w] + ("\n" if i % 9 == 8 else " "))
    return "".join(out)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env):
    root = copy_project(tmp_path_factory.mktemp("text"))
    (root / "text.txt").write_text(generated_text())
    init_repo(root, env)
    return root


@pytest.fixture(scope="module")
def ran(repo, env):
    return exp_run(repo, env, *SETTINGS)


def test_text_runs_every_stage_and_the_chain_beats_the_unigram(repo, ran):
    expected = {"preprocess", "classifier", "self_supervised", "real", "summary"} | {
        f"{s}@{m}" for s in ("train", "generate", "evaluate") for m in MODELS
    }
    assert stages_run(ran) == expected
    metrics = {m: json.loads((repo / f"metrics/models/{m}.json").read_text()) for m in MODELS}
    for m in MODELS:
        assert TEXT_KEYS <= set(metrics[m]), m
        assert metrics[m]["n_test"] == len((repo / "text.txt").read_text()) - round(0.9 * len((repo / "text.txt").read_text()))
    assert metrics["markov"]["nll"] < metrics["independent"]["nll"]
    real = json.loads((repo / "metrics/real.json").read_text())
    assert {"novelty_char8", "longest_copy", "distinct_2", "n_samples"} <= set(real) and real["n_samples"] == 60
    samples = (repo / "samples/markov/samples.txt").read_text()
    assert samples.startswith("=== sample 1 of 60") and samples.count("=== sample") == 60
    assert (repo / "samples/markov/transitions.png").stat().st_size > 0
    summary = (repo / "metrics/summary.md").read_text()
    assert "markov (the first lines of samples/markov/samples.txt)" in summary
    note = json.loads((repo / "metrics/classifier.json").read_text())["note"]
    assert note.startswith("text data: no classifier")


def test_the_same_settings_rerun_nothing(repo, env, ran):
    assert stages_run(exp_run(repo, env, *SETTINGS)) == set()


def test_a_generate_param_reruns_sampling_not_training(repo, env, ran):
    run = stages_run(exp_run(repo, env, *SETTINGS, "generate.temperature=0.8"))
    assert run == {f"{s}@{m}" for s in ("generate", "evaluate") for m in MODELS} | {"summary"}


@pytest.mark.parametrize(
    "setting, message",
    [
        ("models=[gan]", "error: gan: models images, not text data (models for text: ar, independent, markov)"),
        ("ar.context=60000", "error: text.txt: the training text has"),
    ],
)
def test_what_does_not_fit_text_fails_in_one_line(repo, env, ran, setting, message):
    proc = exp_run(repo, env, *SETTINGS, setting, ok=False)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert errors and errors[0].startswith(message), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    sh(repo, env, "git", "checkout", "--", "params.yaml")
