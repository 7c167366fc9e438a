"""Sample metrics for generated character text: gibberish on one side, memorisation on the other.

Every metric is computed for a model's samples and, with the same code, for a "real" row of
held-out test windows of the same length; read a model against that row, not against 0 or 1.

- ``novelty_char8`` / ``novelty_char16``: share of the samples' character 8-grams (16-grams),
  every position counted, that never occur in the training text. Held-out text already has
  some novelty (more at 16 than at 8). Far *below* the real row: the model copies training
  text. Far *above* it: the model strings characters together in ways no text does.
- ``novelty_word3``: the same for word trigrams (whitespace-separated words, case and
  punctuation kept). Catches fluent-looking character soup made of non-words.
- ``longest_copy``: mean over samples of the longest substring (in characters) that occurs
  verbatim in the training text. A memorising model scores far above the real row (up to the
  sample length); a model writing gibberish scores near 1-3, below the real row, while its
  novelty is far above it.
- ``distinct_2``: distinct word bigrams over all samples pooled, divided by all word bigrams
  (Li et al. 2016's distinct-n). Low: repetitive or mode-collapsed samples.

Samples are windows cut out of running text, so their first and last words are usually cut
off; the real row is cut the same way, so the comparison stays fair. The unknown-character
code never occurs in the training text, so every n-gram holding it is novel and no copy
runs through it.

The character metrics are exact, without hashing: prefix doubling over the training text
followed by the samples (each behind a separator) gives every position a dense integer rank
of its next 2**k characters, equal iff those characters are equal; an n-gram with
2**k <= n < 2**(k+1) is the exact pair of ranks at i and i + n - 2**k. Sorting the positions
by their rank of the sample length and comparing neighbours (a suffix array cut at that
length) gives, for every sample position, the longest match in the training text. Everything
is vectorised numpy, O(T log L) for a total text length T and sample length L.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


class _Index:
    """Exact ranks of the 2**k-character substrings at every position of train + samples.

    The text is ``train`` then, for each sample, a separator followed by the sample; the
    separator is no code of the inputs (no n-gram across it is ever counted), and past the
    end there is a padding rank 0 that no code has. ``ranks[k][i]`` (k = 0..K, with
    2**K >= max_len) is >= 1, and equal for two positions iff their next 2**k characters
    (padding included) are equal; ranks order those substrings.
    """

    def __init__(self, samples: np.ndarray, train: np.ndarray, max_len: int):
        samples = np.asarray(samples)
        train = np.asarray(train).ravel()
        if samples.ndim != 2:
            raise ValueError(f"samples must be 2-D (S, L), got shape {samples.shape}")
        self.N = len(train)
        self.S, self.L = samples.shape
        n_codes = self.N + self.S * (self.L + 1)
        codes = np.empty(n_codes, np.int64)
        codes[: self.N] = train
        body = codes[self.N :].reshape(self.S, self.L + 1)
        body[:, 1:] = samples
        body[:, 0] = max(int(train.max(initial=0)), int(samples.max(initial=0))) + 1  # no code of the inputs
        self.T = n_codes
        self.K = max(0, int(np.ceil(np.log2(max(max_len, 1)))))
        self.pad = 2 ** (self.K + 1)  # room for lookups at i + offset, offset < 2**(K+1)
        r0, count = _dense_rank(codes)
        self.ranks = [self._padded(r0)]
        counts = [count]
        for k in range(self.K):
            prev = self.ranks[k]
            if counts[k] == self.T or (k > 0 and counts[k] == counts[k - 1]):
                # Same partition as one level down (or every position distinct): it never
                # changes again, and neither does the order, so the ranks carry over.
                self.ranks.append(prev)
                counts.append(counts[k])
                continue
            h = 2**k
            key = prev[: self.T].astype(np.int64) * (counts[k] + 1) + prev[h : h + self.T]
            r, count = _dense_rank(key)
            self.ranks.append(self._padded(r))
            counts.append(count)
        self.counts = counts

    def _padded(self, r: np.ndarray) -> np.ndarray:
        out = np.zeros(self.T + self.pad, np.int32)
        out[: self.T] = r
        return out

    def sample_starts(self, n: int) -> np.ndarray:
        """Text positions of every n-gram inside a sample, (S, L - n + 1)."""
        first = self.N + 1 + (self.L + 1) * np.arange(self.S)
        return first[:, None] + np.arange(self.L - n + 1)[None, :]

    def gram_ids(self, n: int) -> np.ndarray:
        """An id per text position, equal iff the next n characters are equal (1 <= n <= 2**K)."""
        k = int(np.floor(np.log2(n)))
        r = self.ranks[k]
        if 2**k == n:
            return r[: self.T]
        d = n - 2**k
        key = r[: self.T].astype(np.int64) * (self.counts[k] + 1) + r[d : d + self.T]
        return _dense_rank(key)[0]

    def match_lengths(self) -> np.ndarray:
        """(S, L): at each sample position, the longest prefix of the rest of the sample that
        occurs somewhere in the training text (matching statistics)."""
        T, K, top = self.T, self.K, 2**self.K
        rK = self.ranks[K]
        sa = np.argsort(rK[:T]).astype(np.int64)  # suffix order, cut at 2**K
        a, b = sa[:-1], sa[1:]
        lcp = np.zeros(T, np.int64)  # lcp[p]: common prefix of sa[p-1] and sa[p], at most 2**K
        ln = np.zeros(T - 1, np.int64)
        for k in range(K, -1, -1):
            r = self.ranks[k]
            ln += (r[a + ln] == r[b + ln]) * (2**k)
        lcp[1:] = np.minimum(ln, top)
        is_train = sa < self.N
        # Nearest training suffix on either side in suffix order; the longest common prefix
        # with it is the minimum of the neighbour lcps in between.
        left = _min_since_reset(lcp, is_train)
        after = np.zeros(T, np.int64)
        after[:-1] = lcp[1:]
        right = _min_since_reset(after[::-1], is_train[::-1])[::-1]
        best = np.empty(T, np.int64)
        best[sa] = np.maximum(left, right)
        starts = self.sample_starts(1)
        rest = self.L - np.arange(self.L)  # characters left in the sample from each position
        return np.minimum(best[starts], rest[None, :])


def _dense_rank(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Ranks 1..D of the values of ``key`` (equal values, equal ranks; order kept) and D."""
    if len(key) == 0:
        return np.zeros(0, np.int32), 0
    order = np.argsort(key)
    s = key[order]
    new = np.empty(len(s), bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    r = np.cumsum(new, dtype=np.int32)
    out = np.empty(len(s), np.int32)
    out[order] = r
    return out, int(r[-1])


def _min_since_reset(vals: np.ndarray, reset: np.ndarray) -> np.ndarray:
    """At each p, min(vals[q+1 .. p]) for the last reset position q < p (0 with no such q).

    Values are small non-negative ints; a running max over ``segment * BIG + (BIG-1 - v)``
    restarts at every reset because the segment number jumps.
    """
    big = int(vals.max(initial=0)) + 2
    seg = np.cumsum(reset, dtype=np.int64)
    key = seg * big + (big - 1 - vals)
    key[reset] = seg[reset] * big  # neutral: min over nothing yet
    run = np.maximum.accumulate(key) if len(key) else key
    out = big - 1 - (run - seg * big)
    out[reset | (seg == 0)] = 0
    return out


def _check(samples: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError(f"samples must be 2-D (S, L), got shape {samples.shape}")
    return samples, np.asarray(train).ravel()


def _novelty(index: _Index, n: int) -> float:
    if index.S == 0 or index.L < n or n < 1:
        return float("nan")
    ids = index.gram_ids(n)
    seen = np.zeros(int(ids.max(initial=0)) + 1, bool)
    seen[ids[: max(index.N - n + 1, 0)]] = True
    known = seen[ids[index.sample_starts(n)]]
    return float(np.count_nonzero(~known) / known.size)


def _longest(index: _Index) -> float:
    if index.S == 0 or index.L == 0:
        return float("nan")
    return float(index.match_lengths().max(axis=1).mean())


def char_novelty(samples: np.ndarray, train: np.ndarray, n: int) -> float:
    """Share of the samples' character n-grams (every position of every sample, counted with
    multiplicity) that never occur in the training text. samples: int (S, L) codes; train:
    int (N,) codes. Exact (ranks, no hashing). nan when L < n or there are no samples."""
    samples, train = _check(samples, train)
    if samples.shape[0] == 0 or samples.shape[1] < n or n < 1:
        return float("nan")
    return _novelty(_Index(samples, train, n), n)


def longest_copy(samples: np.ndarray, train: np.ndarray) -> float:
    """Mean over samples of the length (in characters) of the longest substring of the sample
    that occurs somewhere in the training text (0 if not even one character does). Exact.
    nan when there are no samples or they are empty."""
    samples, train = _check(samples, train)
    if samples.shape[0] == 0 or samples.shape[1] == 0:
        return float("nan")
    return _longest(_Index(samples, train, samples.shape[1]))


def words(text: str) -> list[str]:
    """Whitespace-separated words, case and punctuation kept."""
    return text.split()


def _word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    w = words(text)
    return list(zip(*(w[i:] for i in range(n))))


def _pooled(texts: Iterable[str], n: int) -> list[tuple[str, ...]]:
    return [g for t in texts for g in _word_ngrams(t, n)]


def novelty_word(sample_texts: list[str], train_text: str, n: int = 3) -> float:
    """Share of the samples' word n-grams (n consecutive words within one sample; multiplicity
    counted) absent from the training text's word n-grams. nan if the samples have none."""
    grams = _pooled(sample_texts, n)
    if not grams:
        return float("nan")
    known = set(_word_ngrams(train_text, n))
    return sum(g not in known for g in grams) / len(grams)


def distinct(sample_texts: list[str], n: int = 2) -> float:
    """Distinct word n-grams over all samples pooled, divided by the total number of word
    n-grams (Li et al. 2016's distinct-n; n-grams never span two samples). nan if none."""
    grams = _pooled(sample_texts, n)
    if not grams:
        return float("nan")
    return len(set(grams)) / len(grams)


def text_sample_metrics(
    samples: np.ndarray, train: np.ndarray, decode: Callable[[np.ndarray], str], distinct_rows: np.ndarray | None = None
) -> dict[str, float]:
    """{'novelty_char8', 'novelty_char16', 'novelty_word3', 'longest_copy', 'distinct_2'}.

    decode(codes 1-D) -> str; the training text is decode(train). The character metrics share
    one index of train + samples. Metrics the samples are too short for are nan. distinct_2
    pools ``distinct_rows`` (codes, (S', L')) when given, else every sample.
    """
    samples, train = _check(samples, train)
    S, L = samples.shape
    out = {"novelty_char8": float("nan"), "novelty_char16": float("nan")}
    if S and L:
        index = _Index(samples, train, max(L, 16))
        out["novelty_char8"] = _novelty(index, 8)
        out["novelty_char16"] = _novelty(index, 16)
        out["longest_copy"] = _longest(index)
    else:
        out["longest_copy"] = float("nan")
    texts = [decode(row) for row in samples]
    out["novelty_word3"] = novelty_word(texts, decode(train), 3)
    out["distinct_2"] = distinct(texts if distinct_rows is None else [decode(row) for row in distinct_rows], 2)
    keys = ("novelty_char8", "novelty_char16", "novelty_word3", "longest_copy", "distinct_2")
    return {k: out[k] for k in keys}
