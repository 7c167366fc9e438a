"""Text: the source, the contiguous split, bad input, and the sequence models' probabilities."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from genlab.config.params import DataParams
from genlab.data.prepare import load_prepared, prepare
from genlab.data.text import Vocab, read_text, split_text
from genlab.errors import GenlabError
from genlab.evaluation.evaluate import evaluate_text_real, real_windows, text_history
from genlab.models.ar import AutoRegressive
from genlab.models.independent import Independent, IndependentText
from genlab.models.markov import Markov, MarkovText
from helpers import ROOT


def text_params(path, **kw):
    return DataParams(source="text", path=str(path), **{"val_fraction": 0.2, "test_fraction": 0.2, **kw})


# -- the source and the split --------------------------------------------------------------
def test_contiguous_split_vocabulary_and_unknown(tmp_path):
    text = "abcabcabca" + "bbccaab" + "abxyab"  # 23 characters; x and y only in the test text
    (tmp_path / "t.txt").write_text(text)
    meta = prepare(text_params(tmp_path / "t.txt", val_fraction=0.3, test_fraction=0.26), tmp_path / "prepared")
    n_test, n_val = round(23 * 0.26), round(23 * 0.3)  # 6 and 7: the last 6, the 7 before them
    assert meta["counts"] == {"train": 23 - n_val - n_test, "val": n_val, "test": n_test}
    assert meta["vocab"] == ["a", "b", "c"] and meta["n_levels"] == 4 and meta["unk"] == 3
    data = load_prepared(tmp_path / "prepared")
    vocab = Vocab.of_meta(meta)
    parts = [vocab.decode(s.x.numpy()) for s in (data.train, data.val, data.test)]
    assert parts == ["abcabcabca", "bbccaab", "ab\ufffd\ufffdab"]  # in reading order, nothing shuffled
    assert meta["oov_rate"] == {"val": 0.0, "test": pytest.approx(2 / 6, rel=1e-5)}
    assert data.train.x.dtype == torch.uint8


def test_a_folder_is_its_txt_files_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "notes.md").write_text("ignored")
    assert read_text(tmp_path) == "first\n\nsecond"


def test_unicode_characters_are_symbols(tmp_path):
    (tmp_path / "t.txt").write_text("héllo wörld, ça va? " * 5, encoding="utf-8")
    meta = prepare(text_params(tmp_path / "t.txt"), tmp_path / "p")
    assert "é" in meta["vocab"] and meta["counts"]["train"] + meta["counts"]["val"] + meta["counts"]["test"] == 100


@pytest.mark.parametrize(
    "content, message",
    [
        (b"ok text \xff\xfe more", r"t\.txt: not UTF-8 text \(byte 0xff at byte offset 8\)"),
        (b"", r"t\.txt: empty"),
        (b"abc", r"t\.txt: 3 characters are too few"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"t\.txt: a binary file, not text \(a NUL byte at byte offset 8\)"),
    ],
)
def test_bad_text_is_one_line_naming_the_file(tmp_path, content, message):
    (tmp_path / "t.txt").write_bytes(content)
    with pytest.raises(GenlabError, match=message):
        prepare(text_params(tmp_path / "t.txt"), tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_missing_text_and_empty_folder(tmp_path):
    with pytest.raises(GenlabError, match="no such file or folder"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(GenlabError, match="no .txt files"):
        read_text(tmp_path)


def test_split_needs_characters_in_every_part():
    assert split_text("abcdefghij", 0.1, 0.1) == {"train": "abcdefgh", "val": "i", "test": "j"}
    with pytest.raises(GenlabError, match="too few"):
        split_text("abcd", 0.1, 0.1)


def test_the_preprocess_stage_fails_in_one_line_and_keeps_the_old_data(tmp_path, env_with_venv):
    (tmp_path / "good.txt").write_text("to be or not to be " * 20)
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait " * 5)  # Latin-1, not UTF-8
    for name in ("good", "bad"):
        (tmp_path / f"{name}.yaml").write_text(f"data: {{source: text, path: {name}.txt}}\n")
    run = lambda p: subprocess.run(
        [sys.executable, "-m", "stages.preprocess", "--params", p], cwd=tmp_path, capture_output=True, text=True,
        env={**env_with_venv, "PYTHONPATH": str(ROOT)},
    )
    assert run("good.yaml").returncode == 0
    before = (tmp_path / "data/prepared/train.npz").read_bytes()
    proc = run("bad.yaml")
    assert proc.returncode != 0
    assert proc.stderr.strip() == "error: bad.txt: not UTF-8 text (byte 0xe9 at byte offset 3)"
    assert (tmp_path / "data/prepared/train.npz").read_bytes() == before


# -- the models ----------------------------------------------------------------------------
def all_contexts(history: int, vocab: int) -> torch.Tensor:
    """Every context of ``history`` symbols, -1 (no symbol) allowed on the left only."""
    rows = []
    for k in range(history + 1):  # k real symbols, left-padded
        for combo in np.ndindex(*([vocab] * k)):
            rows.append([-1] * (history - k) + list(combo))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), history)


TINY_AR = dict(context=6, layers=2, width=16, heads=2, dropout=0.0)


def fit(m, train: torch.Tensor, val: torch.Tensor) -> None:
    """A closed-form model's fit; an ar's chain, where it mixes one in (its network stays as made)."""
    if not m.trains_by_gradient:
        m.fit(train, val)
    elif getattr(m.params, "ngram", 0):
        m.finish_fit(train, val)
        m.chain_weight.fill_(0.5)  # whatever validation picks, both parts count here


@pytest.mark.parametrize(
    "model",
    [
        lambda: IndependentText(Independent.Params(), (), 4),
        lambda: MarkovText(Markov.Params(order=2), (), 4),
        lambda: MarkovText(Markov.Params(order=3, discount=0.7), (), 4),
        lambda: MarkovText(Markov.Params(order=2, method="additive", smoothing=0.1), (), 4),
        lambda: AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 4}), (), 4),
        lambda: AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "arch": "gru", "context": 4}), (), 4),
        lambda: AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 4, "ngram": 2}), (), 4),
    ],
)
def test_probabilities_sum_to_one_in_every_context(model):
    m = model()
    train = torch.randint(0, 3, (300,))  # symbol 3 (the unknown one) never occurs
    fit(m, train, train[:50])
    m.eval()
    contexts = all_contexts(m.history, 4)
    p = m.next_log_probs(contexts).exp()
    assert p.shape == (len(contexts), 4) and p.dtype == torch.float64
    assert torch.allclose(p.sum(1), torch.ones(len(contexts), dtype=torch.float64), atol=1e-6)
    assert (p > 0).all()


def test_the_stream_likelihood_is_the_product_of_next_symbol_probabilities():
    for m in (MarkovText(Markov.Params(order=3), (), 5), AutoRegressive(AutoRegressive.Params(**TINY_AR), (), 5),
              AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "ngram": 3}), (), 5)):
        train = torch.randint(0, 4, (400,))
        fit(m, train, train[:100])
        m.eval()
        history, x = torch.tensor([1, 2]), torch.tensor([0, 3, 1])  # within half a window of history
        stream = m.log_prob_stream(x, history)
        seq = torch.cat([history, x])
        h = m.history
        for t in range(len(x)):
            before = seq[: len(history) + t][-h:]
            ctx = torch.cat([torch.full((h - len(before),), -1), before]).unsqueeze(0)
            assert stream[t].item() == pytest.approx(m.next_log_probs(ctx)[0, x[t]].item(), abs=1e-5)


def test_samples_are_seeded_and_continue_the_prompt():
    m = MarkovText(Markov.Params(order=2), (), 4)
    m.fit(torch.tensor([0, 1, 2] * 100), None)  # a deterministic cycle 0 -> 1 -> 2 -> 0
    gen = lambda: torch.Generator().manual_seed(3)
    a = m.sample_stream(5, 30, gen(), prompt=torch.tensor([0, 1]))
    assert torch.equal(a, m.sample_stream(5, 30, gen(), prompt=torch.tensor([0, 1])))
    assert (a[:, 0] == 2).float().mean() > 0.9  # after "0 1" comes 2 almost surely
    cold = m.sample_stream(200, 10, gen(), temperature=0.1, prompt=torch.tensor([0, 1]))
    assert torch.equal(cold[:, :3], torch.tensor([2, 0, 1]).expand(200, -1))  # near-greedy at a low temperature
    ar = AutoRegressive(AutoRegressive.Params(**TINY_AR), (), 4).eval()
    s = ar.sample_stream(4, 25, gen())  # longer than its window of 6: one stream, never restarted
    assert s.shape == (4, 25) and torch.equal(s, ar.sample_stream(4, 25, gen()))


def test_text_real_row_and_history():
    from genlab.data.prepare import Prepared, Split

    meta = {"vocab": list("ab "), "oov_rate": {"val": 0.0, "test": 0.0}, "kind": "text"}
    enc = Vocab(meta["vocab"]).encode
    data = Prepared(meta, Split(torch.from_numpy(enc("ab ab ba ab " * 10)), None),
                    Split(torch.from_numpy(enc("ab ba")), None), Split(torch.from_numpy(enc("ba ab ab ba ")), None))
    w = real_windows(data.test.x, 3, 5)
    assert w.shape == (3, 5) and torch.equal(w[0], data.test.x[:5]) and torch.equal(w[-1], data.test.x[-5:])
    out = evaluate_text_real(data, 3, 5)
    assert out["n_samples"] == 3 and out["sample_length"] == 5 and out["distinct_2_samples"] == 2
    assert math.isnan(out["novelty_char8"])  # windows of 5 hold no 8-grams
    m = MarkovText(Markov.Params(order=3), (), 4)
    assert m.history == 3 and torch.equal(text_history(m, data), torch.from_numpy(enc("a ab ba")[-3:]))
