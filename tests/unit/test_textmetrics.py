import math
import time

import numpy as np
import pytest

from genlab.metrics import text as TM

# Tiny vocabulary: a b c d are training characters, z is `unk` (never in the training text).
VOCAB = "abcdz"


def enc(*texts):
    return np.array([[VOCAB.index(ch) for ch in t] for t in texts])


def dec(codes):
    return "".join(VOCAB[c] for c in codes)


TRAIN = enc("abcabd")[0]
# Training 2-grams: ab bc ca ab bd -> {ab, bc, ca, bd}; 3-grams: {abc, bca, cab, abd}.


def test_char_novelty_bigrams():
    # "abca": ab bc ca, all in train; "zzab": zz za (novel, z is unk) and ab (known) -> 2 of 6.
    assert TM.char_novelty(enc("abca", "zzab"), TRAIN, 2) == pytest.approx(2 / 6)


def test_char_novelty_trigrams():
    # "abca": abc bca (known); "zzab": zza zab (novel: no 3-gram of train starts with z) -> 2 of 4.
    assert TM.char_novelty(enc("abca", "zzab"), TRAIN, 3) == pytest.approx(2 / 4)


def test_char_novelty_counts_multiplicity():
    # "abab": ab ba ab; only ba is novel, but ab counts twice -> 1/3 (a set would give 1/2).
    assert TM.char_novelty(enc("abab"), TRAIN, 2) == pytest.approx(1 / 3)
    # The training text itself, cut into windows, has nothing novel; all-unk is all novel.
    assert TM.char_novelty(enc("abca", "bcab", "cabd"), TRAIN, 3) == 0.0
    assert TM.char_novelty(enc("zzzz"), TRAIN, 2) == 1.0


def test_char_novelty_short_or_empty_is_nan():
    assert math.isnan(TM.char_novelty(enc("abc"), TRAIN, 4))
    assert math.isnan(TM.char_novelty(np.zeros((0, 5), int), TRAIN, 2))


def test_longest_copy():
    # Nothing: z never occurs in train.
    assert TM.longest_copy(enc("zzzz"), TRAIN) == 0.0
    # Full copy: "cabd" is train[2:6].
    assert TM.longest_copy(enc("cabd"), TRAIN) == 4.0
    # In the middle: "dbcaa" -> "bca" (train[1:4]); "bcaa", "dbc" are not in train -> 3.
    assert TM.longest_copy(enc("dbcaa"), TRAIN) == 3.0
    # Mean over samples: "abca" (train[0:4]) -> 4, "zzab" -> "ab" -> 2; mean 3.
    assert TM.longest_copy(enc("abca", "zzab"), TRAIN) == 3.0
    # One-character matches only: "dzdz" -> "d" -> 1.
    assert TM.longest_copy(enc("dzdz"), TRAIN) == 1.0
    assert math.isnan(TM.longest_copy(np.zeros((0, 5), int), TRAIN))


def _brute_novelty(samples, train, n):
    t = dec(train)
    known = {t[i : i + n] for i in range(len(t) - n + 1)}
    grams = [s[i : i + n] for s in map(dec, samples) for i in range(len(s) - n + 1)]
    return sum(g not in known for g in grams) / len(grams)


def _brute_longest(samples, train):
    t = dec(train)
    best = []
    for s in map(dec, samples):
        best.append(max((j - i for i in range(len(s)) for j in range(i + 1, len(s) + 1) if s[i:j] in t), default=0))
    return float(np.mean(best))


def test_char_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(30):
        train = rng.integers(0, 3, int(rng.integers(0, 80)))
        samples = rng.integers(0, 5, (int(rng.integers(1, 5)), int(rng.integers(1, 24))))
        if len(train) > samples.shape[1]:  # some near-copies, for long matches
            o = int(rng.integers(0, len(train) - samples.shape[1] + 1))
            samples[0] = train[o : o + samples.shape[1]]
            samples[0, rng.integers(0, samples.shape[1])] = 4
        for n in (1, 2, 3, 8):
            if samples.shape[1] >= n:
                assert TM.char_novelty(samples, train, n) == pytest.approx(_brute_novelty(samples, train, n))
        assert TM.longest_copy(samples, train) == _brute_longest(samples, train)


def test_words_keep_case_and_punctuation():
    assert TM.words("  The cat,\tsat\n") == ["The", "cat,", "sat"]


def test_novelty_word():
    train = "the cat sat on the mat"
    # Train trigrams: (the cat sat) (cat sat on) (sat on the) (on the mat).
    # "the cat sat down": (the cat sat) known, (cat sat down) novel.
    # "on the mat the cat": (on the mat) known, (the mat the) and (mat the cat) novel.
    # -> 3 novel of 5; no trigram spans the two samples.
    assert TM.novelty_word(["the cat sat down", "on the mat the cat"], train) == pytest.approx(3 / 5)
    # Case and punctuation are kept: "The cat sat" and "the cat, sat" are both novel.
    assert TM.novelty_word(["The cat sat", "the cat, sat"], train) == 1.0
    assert TM.novelty_word(["on the", "mat"], train, n=2) == pytest.approx(0.0)
    assert math.isnan(TM.novelty_word(["two words"], train))
    assert math.isnan(TM.novelty_word([], train))


def test_distinct():
    # "a b a b": bigrams ab ba ab -> 2 distinct of 3.
    assert TM.distinct(["a b a b"]) == pytest.approx(2 / 3)
    # Pooled over samples: ab | ab bc -> 2 distinct of 3.
    assert TM.distinct(["a b", "a b c"]) == pytest.approx(2 / 3)
    assert TM.distinct(["a b c"], n=1) == 1.0
    assert math.isnan(TM.distinct(["a", "b"]))
    assert math.isnan(TM.distinct([]))


KEYS = {"novelty_char8", "novelty_char16", "novelty_word3", "longest_copy", "distinct_2"}


def test_text_sample_metrics_agrees_with_the_parts():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 4, 400)  # a b c d
    samples = rng.integers(0, 5, (6, 40))
    samples[0] = train[100:140]
    dec = lambda c: "".join(VOCAB[x] for x in c).replace("d", " ")  # d as space
    m = TM.text_sample_metrics(samples, train, dec)
    assert set(m) == KEYS
    assert m["novelty_char8"] == TM.char_novelty(samples, train, 8)
    assert m["novelty_char16"] == TM.char_novelty(samples, train, 16)
    assert m["longest_copy"] == TM.longest_copy(samples, train)
    texts = [dec(s) for s in samples]
    assert m["novelty_word3"] == TM.novelty_word(texts, dec(train), 3)
    assert m["distinct_2"] == TM.distinct(texts, 2)
    assert all(np.isfinite(v) for v in m.values())


def test_text_sample_metrics_short_samples_give_nan():
    m = TM.text_sample_metrics(enc("abcab", "zzabd"), TRAIN, dec)
    assert set(m) == KEYS
    assert math.isnan(m["novelty_char8"]) and math.isnan(m["novelty_char16"])
    assert m["longest_copy"] == 4.0  # "abcab" is train[0:5] -> 5; "zzabd" -> "abd" -> 3
    m = TM.text_sample_metrics(np.zeros((0, 20), int), TRAIN, dec)
    assert all(math.isnan(v) for v in m.values())


def test_sized_random_run_completes():
    # The size the pipeline meets: 1,000,000 training codes (V = 66), 1000 samples of 500.
    rng = np.random.default_rng(0)
    alphabet = np.array(list(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;"))
    assert len(alphabet) == 66
    train = rng.integers(0, 66, 1_000_000)
    samples = rng.integers(0, 66, (1000, 500))
    samples[:10] = train[:5000].reshape(10, 500)  # a few verbatim copies
    t0 = time.perf_counter()
    m = TM.text_sample_metrics(samples, train, lambda c: "".join(alphabet[c].tolist()))
    elapsed = time.perf_counter() - t0
    assert set(m) == KEYS and all(np.isfinite(v) for v in m.values())
    assert 0.98 <= m["novelty_char8"] < 1.0  # random 8-grams are novel, the copies are not
    assert 500 * 10 / 1000 < m["longest_copy"] < 500 * 10 / 1000 + 10
    print(f"text_sample_metrics on (1000, 500) vs 1e6: {elapsed:.2f} s")
