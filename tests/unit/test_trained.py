"""A trained model outside the pipeline: ``genlab.load`` and ``genlab sample`` (genlab.trained, genlab.trained.command)."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import genlab
from genlab.errors import GenlabError
from genlab.models import registry
from genlab.trained.command import main
from helpers import toy_meta_and_data

IMAGES = {"kind": "images", "shape": [1, 3, 2], "n_levels": 5}


def saved(folder, name, meta, fit):
    """A model of ``name`` for ``meta``, fitted by ``fit(model)``, saved as <folder>/models/<name>/model.pt."""
    torch.manual_seed(0)
    model = registry.build(name, registry.params_class(name)(), meta)
    fit(model)
    path = folder / "models" / name / "model.pt"
    path.parent.mkdir(parents=True)
    registry.save(model.eval(), name, meta, path)
    return path


@pytest.fixture
def independent(tmp_path):
    x = torch.tensor([[[[0, 1], [2, 3], [4, 4]]]] * 3 + [[[[4, 3], [2, 1], [0, 0]]]], dtype=torch.uint8)
    return saved(tmp_path, "independent", IMAGES, lambda m: m.fit(x, None)), x


def test_load_by_name_folder_or_file_and_sample_in_the_datas_terms(independent, tmp_path, monkeypatch):
    path, x = independent
    monkeypatch.chdir(tmp_path)
    by_name, by_folder, by_file = genlab.load("independent"), genlab.load(path.parent), genlab.load(path)
    a = by_name.sample(7, seed=3)
    assert a.dtype == np.uint8 and a.shape == (7, 1, 3, 2) and a.max() <= 4
    assert np.array_equal(a, by_folder.sample(7, seed=3)) and np.array_equal(a, by_file.sample(7, seed=3))
    assert not np.array_equal(a, by_file.sample(7, seed=4))
    # pixel (0, 0) is 0 in 3 of 4 training images: with smoothing 0.5 over 5 levels, p = 3.5 / 6.5
    logp = by_name.log_prob(x[:1])
    assert logp.shape == (1,) and by_name.nll(x) == pytest.approx(-by_name.model.log_prob(x).mean().item())
    assert np.exp(by_name.log_prob(np.zeros((1, 3, 2), dtype=np.uint8))) > 0  # one image without its batch axis


def test_data_of_the_wrong_shape_or_levels_and_missing_models_are_one_line(independent, tmp_path, monkeypatch):
    path, _ = independent
    m = genlab.load(path)
    with pytest.raises(GenlabError, match=r"shape \(2, 1, 2, 2\), not \(n, 1, 3, 2\)"):
        m.nll(np.zeros((2, 1, 2, 2)))
    with pytest.raises(GenlabError, match="whole levels 0..4"):
        m.nll(np.full((2, 1, 3, 2), 5))
    with pytest.raises(GenlabError, match="n: a whole number"):
        m.sample(0)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GenlabError, match=r"^vae: no trained model there \(nor models/vae\)"):
        genlab.load("vae")
    foreign = tmp_path / "foreign.pt"
    torch.save([1, 2], foreign)
    with pytest.raises(GenlabError, match="not a model"):
        genlab.load(foreign)

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    hostile = tmp_path / "hostile.pt"
    hostile.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GenlabError, match="refused"):
        genlab.load(hostile)


def test_a_bound_is_not_passed_off_as_exact(tmp_path):
    meta = {"kind": "images", "shape": [1, 2, 2], "n_levels": 2}
    path = saved(tmp_path, "vae", meta, lambda m: None)
    m = genlab.load(path)
    x = m.sample(5, seed=0)
    assert x.shape == (5, 1, 2, 2) and set(np.unique(x)) <= {0, 1}
    with pytest.raises(GenlabError, match="a bound, not exact; nll"):
        m.log_prob(x)
    assert m.nll(x) == m.nll(x) > 0  # the IWAE bound with seeded draws
    with pytest.raises(GenlabError, match="sampler 'ddim': vae has prior, gmm"):
        m.sample(2, sampler="ddim")


def test_text_samples_are_strings_continuing_the_prompt(tmp_path):
    meta = {"kind": "text", "shape": [], "n_levels": 4, "vocab": list("ab ")}
    path = saved(tmp_path, "markov", meta, lambda m: m.fit(torch.tensor([0, 1, 2] * 100), None))  # "ab ab ab ..."
    m = genlab.load(path)
    texts = m.sample(3, seed=1, length=7, prompt="a", temperature=0.1)
    assert texts == ["b ab ab"] * 3
    direct = m.model.log_prob_stream(torch.tensor([0, 1, 2, 0, 1]), torch.zeros(0, dtype=torch.long))
    assert m.nll("ab ab") == pytest.approx(-direct.mean().item()) and m.log_prob("ab").shape == (2,)
    assert m.nll("ab ab ab") < m.nll("ba ba ba")


def test_music_samples_are_piano_rolls(tmp_path):
    _, _, meta, train, val, _ = toy_meta_and_data(np.random.default_rng(0))
    path = saved(tmp_path, "markov", meta, lambda m: m.fit(train, val))
    rolls = genlab.load(path).sample(2, seed=0, length=12)
    assert rolls.shape == (2, 12, 4) and rolls.dtype == np.uint8


def test_the_command_writes_the_same_bytes_twice_and_never_into_the_pipeline(independent, tmp_path, monkeypatch, capsys):
    path, _ = independent
    monkeypatch.chdir(tmp_path)
    for out in ("a", "b"):
        main(["sample", "independent", "-n", "5", "--seed", "3", "--out", out])
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["png/sample_0001.png", "png/sample_0002.png", "png/sample_0003.png",
                                       "png/sample_0004.png", "png/sample_0005.png", "samples.npz", "samples.png"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert np.array_equal(np.load(tmp_path / "a" / "samples.npz")["x"], genlab.load(path).sample(5, seed=3))
    assert "independent: 5 samples (seed 3) in a/" in capsys.readouterr().out
    for out, message in [("a", "already exists"), ("samples/mine", "inside the pipeline's samples/"),
                         ("models", "inside the pipeline's models/")]:
        with pytest.raises(SystemExit) as stop:
            main(["sample", "independent", "--out", out])
        assert stop.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: --out") and message in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["sample", "nothing-here"])
    assert capsys.readouterr().err.startswith("error: nothing-here: no trained model there")
    assert not (tmp_path / "samples").exists()


def test_the_command_writes_text_and_its_help_says_what_it_does(tmp_path):
    meta = {"kind": "text", "shape": [], "n_levels": 4, "vocab": list("ab ")}
    path = saved(tmp_path, "markov", meta, lambda m: m.fit(torch.tensor([0, 1, 2] * 100), None))
    main(["sample", str(path), "-n", "2", "--length", "5", "--prompt", "ab", "--out", str(tmp_path / "t")])
    assert (tmp_path / "t" / "samples.txt").read_text().startswith("=== sample 1 of 2 (temperature 1) ===\nab")
    help_text = subprocess.run([sys.executable, "-m", "genlab", "sample", "--help"], capture_output=True, text=True).stdout
    for words in ("MODEL", "--seed", "--prompt", "samples.png", "same bytes", "weights-only"):
        assert words in help_text


def test_music_continues_a_primer_midi_file(tmp_path):
    """A chain over chords that always go a -> b -> c -> a: primed with a piece ending on b, the
    first frame drawn (near-greedy) is c; the command writes the primer, then the sample."""
    from genlab.data import midi
    from genlab.data.music import chord_codes, chord_table

    a, b, c = (np.eye(88, dtype=np.uint8)[[k]] * 1 for k in (39, 43, 46))  # C4, E4, G4
    piece = np.concatenate([a, b, c] * 10)
    table = chord_table(piece)
    inputs = lambda x: (torch.from_numpy(x), torch.from_numpy(chord_codes(x, table)), torch.tensor([len(x)]))
    meta = {"kind": "music", "shape": [88], "n_levels": 2, "n_chords": len(table), "steps_per_beat": 1}
    path = saved(tmp_path, "markov", meta, lambda m: m.fit(inputs(piece), inputs(piece)))
    midi.write_midi(np.concatenate([a, b]), tmp_path / "primer.mid", 1)
    m = genlab.load(path)
    rolls = m.sample(20, seed=0, length=3, primer=tmp_path / "primer.mid", temperature=0.05)
    assert (rolls[:, 0] == c[0]).all(1).mean() > 0.9 and (rolls[:, 1] == a[0]).all(1).mean() > 0.9
    main(["sample", str(path), "-n", "2", "--length", "3", "--primer", str(tmp_path / "primer.mid"), "--out", str(tmp_path / "m")])
    roll, _ = midi.read_midi(tmp_path / "m" / "midi" / "sample_1.mid", 1)
    assert np.array_equal(roll[:2], np.concatenate([a, b]))  # the primer first
    assert len(roll) <= 5 and (tmp_path / "m" / "audio" / "sample_1.wav").exists()
    with pytest.raises(SystemExit):
        main(["sample", str(path), "--primer", str(tmp_path / "nothing.mid"), "--out", str(tmp_path / "n")])


def test_the_music_transformer_continues_a_primer_longer_than_its_window(tmp_path):
    _, _, meta, train, val, _ = toy_meta_and_data(np.random.default_rng(0))
    torch.manual_seed(0)
    model = registry.build("ar", registry.params_class("ar")(context=6, layers=1, width=8, heads=1), meta)
    model.escape.fit(train[0], train[1], val[1])
    frames = train[0]
    for primer in (None, frames[:3], frames[:20]):  # none, within a window, longer than one
        x = model.eval().sample_pieces(2, 9, torch.Generator().manual_seed(0), primer=primer)
        assert x.shape == (2, 9, 4) and x.dtype == torch.uint8


def test_a_loaded_model_completes_images_under_a_named_or_drawn_mask(independent):
    path, x = independent
    trained = genlab.load(path)
    done = trained.complete(x.numpy(), "bottom", seed=1)
    assert done.shape == x.shape and done.dtype == np.uint8
    assert (done[:, :, :1] == x.numpy()[:, :, :1]).all()  # 3 rows: the last one hidden
    assert (trained.complete(x.numpy(), "bottom", seed=1) == done).all()  # seeded
    hole = np.zeros((3, 2), dtype=bool)
    hole[1, 0] = True
    one = trained.complete(x[0].numpy(), hole)
    assert one.shape == (1, 3, 2) and (one.flatten()[[0, 1, 3, 4, 5]] == x[0].numpy().flatten()[[0, 1, 3, 4, 5]]).all()
    with pytest.raises(GenlabError, match="^mask 'top': one of bottom, centre, random"):
        trained.complete(x.numpy(), "top")
    with pytest.raises(GenlabError, match=r"^mask of shape \(2, 2\)"):
        trained.complete(x.numpy(), np.ones((2, 2), dtype=bool))
