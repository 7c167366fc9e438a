"""End to end on music: `dvc exp run -S data.source=midi ...` in a temporary git + DVC repository, on
a few MIDI files generated from a chord chain, with a tiny `ar`; MIDI and WAV samples come out; and
the one-line failures of bad MIDI files and of models that do not fit music."""

import json

import numpy as np
import pytest
from scipy.io import wavfile

from genlab.data.midi import read_midi, write_midi
from helpers import copy_project, exp_run, init_repo, sh, stages_run

pytestmark = pytest.mark.slow

MODELS = ["independent", "markov", "ar"]
SETTINGS = [
    "data.source=midi", "data.path=midi", "data.val_fraction=0.2", "data.test_fraction=0.2",
    "models=[independent,markov,ar]",
    "ar.epochs=2", "ar.width=32", "ar.layers=1", "ar.heads=2", "ar.context=16",
    "generate.n_samples=6", "generate.length=24",
]
MUSIC_KEYS = {"nll", "nll_stderr", "bits_per_frame", "n_test", "n_test_pieces", "unseen_rate", "polyphony",
              "pitch_class_tv", "pitch_range", "scale_consistency", "chord_copy_rate", "oa_pitch_count",
              "oa_pitch_class_hist"}
CHORDS = [(48, 52, 55, 60), (50, 53, 57, 62), (52, 55, 59, 64), (53, 57, 60, 65), (55, 59, 62, 67), (57, 60, 64, 69)]


def chord_chain_rolls(n_pieces: int = 10, frames: int = 40, seed: int = 0) -> list[np.ndarray]:
    """Pieces drawn from a seeded chain over six four-note chords."""
    rng = np.random.default_rng(seed)
    follow = rng.dirichlet(np.full(len(CHORDS), 0.3), size=len(CHORDS))
    rolls = []
    for _ in range(n_pieces):
        roll, c = np.zeros((frames, 88), np.uint8), rng.integers(len(CHORDS))
        for t in range(frames):
            roll[t, np.array(CHORDS[c]) - 21] = 1
            c = rng.choice(len(CHORDS), p=follow[c])
        rolls.append(roll)
    return rolls


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env):
    root = copy_project(tmp_path_factory.mktemp("music"))
    (root / "midi").mkdir()
    for i, roll in enumerate(chord_chain_rolls()):
        write_midi(roll, root / "midi" / f"piece_{i:02d}.mid")
    init_repo(root, env)
    return root


@pytest.fixture(scope="module")
def ran(repo, env):
    return exp_run(repo, env, *SETTINGS)


def test_music_runs_every_stage_and_writes_midi_and_audio(repo, ran):
    expected = {"preprocess", "classifier", "self_supervised", "real", "summary"} | {
        f"{s}@{m}" for s in ("train", "generate", "evaluate") for m in MODELS
    }
    assert stages_run(ran) == expected
    meta = json.loads((repo / "data/prepared/meta.json").read_text())
    assert meta["kind"] == "music" and meta["pieces"] == {"train": 6, "val": 2, "test": 2}
    metrics = {m: json.loads((repo / f"metrics/models/{m}.json").read_text()) for m in MODELS}
    for m in MODELS:
        assert MUSIC_KEYS <= set(metrics[m]), m
        assert metrics[m]["n_test"] == 80 and metrics[m]["n_test_pieces"] == 2
    assert metrics["markov"]["nll"] < metrics["independent"]["nll"]
    real = json.loads((repo / "metrics/real.json").read_text())
    assert {"polyphony", "pitch_class_tv", "chord_copy_rate", "oa_pitch_count"} <= set(real)
    assert real["polyphony"] == 4.0  # every frame of the validation pieces is a four-note chord
    for m in MODELS:
        midis = sorted((repo / f"samples/{m}/midi").glob("*.mid"))
        assert len(midis) == 6
        samples = np.load(repo / f"samples/{m}/samples.npz")["x"]
        roll, _ = read_midi(midis[0])
        assert np.array_equal(roll, samples[0][: len(roll)])  # the file is the sample (trailing silence aside)
        wavs = sorted((repo / f"samples/{m}/audio").glob("*.wav"))
        assert len(wavs) == 4
        rate, audio = wavfile.read(wavs[0])
        assert rate == 22050 and len(audio) >= 24 * 0.5 * rate and np.abs(audio).max() > 0
        assert (repo / f"samples/{m}/samples.png").stat().st_size > 0
    note = json.loads((repo / "metrics/classifier.json").read_text())["note"]
    assert note.startswith("music data: no classifier")
    # both test pieces continued after their first 8 frames: exact continuation_nll, MIDI of primer + continuation
    for m in MODELS:
        assert metrics[m]["continuation_pieces"] == 2 and metrics[m]["continuation_frames"] == 64
        assert metrics[m]["continuation_nll"] > 0 and "continuation_key_distance" in metrics[m]
    assert "continuation_key_distance" in real
    continued = sorted((repo / "samples/markov/continuations").glob("*.mid"))
    assert len(continued) == 2
    roll, _ = read_midi(continued[0])
    test_file = json.loads((repo / "data/prepared/meta.json").read_text())["files"]["test"][0]
    original, _ = read_midi(repo / "midi" / test_file)
    assert np.array_equal(roll[:8], original[:8])  # the primer, then the model's continuation


def test_the_same_settings_rerun_nothing(repo, env, ran):
    assert stages_run(exp_run(repo, env, *SETTINGS)) == set()


def one_error_line(proc, message):
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert errors and errors[0].startswith(message), out
    assert "Traceback" not in out


def test_a_corrupt_midi_file_stops_preprocess_naming_it_and_can_be_skipped(repo, env, ran):
    good = (repo / "midi/piece_00.mid").read_bytes()
    (repo / "midi/piece_99.mid").write_bytes(good[: len(good) // 2])  # truncated
    try:
        one_error_line(exp_run(repo, env, *SETTINGS, ok=False), "error: midi/piece_99.mid: not a readable MIDI file")
        sh(repo, env, "git", "checkout", "--", "params.yaml")
        skipped = exp_run(repo, env, *SETTINGS, "data.skip_bad_files=true", "models=[independent]")
        meta = json.loads((repo / "data/prepared/meta.json").read_text())
        assert len(meta["skipped_files"]) == 1 and "piece_99.mid" in meta["skipped_files"][0]
        assert "1 files skipped" in skipped.stdout
    finally:
        (repo / "midi/piece_99.mid").unlink()
        sh(repo, env, "git", "checkout", "--", "params.yaml")


def test_what_does_not_fit_music_fails_in_one_line(repo, env, ran):
    one_error_line(
        exp_run(repo, env, *SETTINGS, "models=[vae]", ok=False),
        "error: vae: models images and continuous, not music data (models for music: ar, independent, markov)",
    )
    sh(repo, env, "git", "checkout", "--", "params.yaml")
