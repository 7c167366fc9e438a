import bisect
import itertools

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.models._ngram import NGram, fit_ngram

SETTINGS = [("kneser_ney", None), ("kneser_ney", 0.7), ("additive", None)]


def model(codes, V, order, method="kneser_ney", discount=None, smoothing=0.5):
    arrays = fit_ngram(codes, V, order, method, discount, smoothing)
    return NGram(arrays, V, order, method, discount, smoothing)


def all_contexts(V, width):
    """Every context of ``width`` codes from {-1, 0..V-1} (-1s anywhere, left-padded ones included)."""
    rows = list(itertools.product(range(-1, V), repeat=width))
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("method, discount", SETTINGS)
@pytest.mark.parametrize("V, n_train", [(4, 300), (4, 3), (7, 300)])
def test_every_context_is_normalised_and_positive(order, method, discount, V, n_train):
    # code V-1 never occurs in training; V = 7 has discounts estimated (not the 0.75 fallback) at orders 3-4
    train = np.random.default_rng(order).integers(0, V - 1, n_train)
    m = model(train, V, order, method, discount)
    logp = m.next_log_probs(all_contexts(V, order - 1))
    p = np.exp(logp)
    assert logp.shape == ((V + 1) ** (order - 1), V)
    assert np.all(np.isfinite(logp)) and np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("method, discount", SETTINGS)
@pytest.mark.parametrize("n_history", [None, 1, 10])
def test_stream_matches_next_log_probs(order, method, discount, n_history):
    V, rng = 5, np.random.default_rng(1)
    m = model(rng.integers(0, 4, 400), V, order, method, discount)
    history = None if n_history is None else rng.integers(0, V, n_history)
    codes = rng.integers(0, V, 60)
    full = np.concatenate([[] if history is None else history, codes]).astype(np.int64)
    start = len(full) - len(codes)
    padded = np.concatenate([np.full(order - 1, -1), full])
    # the context of codes[t]: the order-1 codes before it in history + codes, -1 before the start
    ctx = np.array([padded[start + t:start + t + order - 1] for t in range(len(codes))]).reshape(len(codes), order - 1)
    expected = m.next_log_probs(ctx)[np.arange(len(codes)), codes]
    np.testing.assert_allclose(m.log_prob_stream(codes, history), expected, rtol=0, atol=1e-12)


def test_kneser_ney_by_hand():
    # train "abab" = a b a b with a=0, b=1, and c=2 never seen; order 2, one discount D = 1/2.
    m = model(np.array([0, 1, 0, 1]), 3, 2, discount=0.5)
    # Unigrams use continuation counts: a follows {text start, b} -> 2, b follows {a} -> 1; S = 3.
    # gamma_1 = D * N1+ / S = 0.5 * 2 / 3 = 1/3, spread uniformly over V = 3: 1/9 each.
    # P1(a) = (2 - 0.5)/3 + 1/9 = 11/18, P1(b) = (1 - 0.5)/3 + 1/9 = 5/18, P1(c) = 1/9 = 2/18.
    p1 = np.array([11, 5, 2]) / 18
    # Bigrams use raw counts: c(ab) = 2, c(ba) = 1.
    # Context a: c(a.) = 2, alpha(b) = (2 - 0.5)/2 = 3/4, gamma = 0.5 * 1 / 2 = 1/4:
    #   P(a|a) = 1/4 * 11/18 = 11/72, P(b|a) = 3/4 + 1/4 * 5/18 = 59/72, P(c|a) = 1/4 * 2/18 = 2/72.
    # Context b: c(b.) = 1, alpha(a) = (1 - 0.5)/1 = 1/2, gamma = 0.5 * 1 / 1 = 1/2:
    #   P(a|b) = 1/2 + 1/2 * 11/18 = 29/36, P(b|b) = 1/2 * 5/18 = 5/36, P(c|b) = 1/2 * 2/18 = 2/36.
    # Context c: never seen -> P1. No context (-1): P1.
    expected = np.array([[11 / 72, 59 / 72, 2 / 72], [29 / 36, 5 / 36, 2 / 36], p1, p1])
    got = np.exp(m.next_log_probs(np.array([[0], [1], [2], [-1]])))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    # the stream "c a b" after history "a": P(c|a) P(a|c) P(b|a) = 2/72 * 11/18 * 59/72
    np.testing.assert_allclose(m.log_prob_stream(np.array([2, 0, 1]), np.array([0])),
                               np.log([2 / 72, 11 / 18, 59 / 72]), rtol=0, atol=1e-14)


def test_modified_discounts_by_hand():
    # unigram (order 1, raw counts): symbols 0,1 once, 2 twice, 3 three times, 4 four times, 5 never
    m_codes = np.array([0, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4])
    arrays = fit_ngram(m_codes, 6, 1)
    # n1 = 2, n2 = n3 = n4 = 1: Y = 2/(2 + 2) = 1/2, D1 = 1 - 2(1/2)(1/2) = 1/2,
    # D2 = 2 - 3(1/2)(1/1) = 1/2, D3+ = 3 - 4(1/2)(1/1) = 1
    np.testing.assert_allclose(arrays["discounts"], [[0.5, 0.5, 1.0]])
    # S = 11; gamma = (1/2 * 2 + 1/2 * 1 + 1 * 2)/11 = 3.5/11, i.e. 3.5/66 for each of the 6 symbols
    floor = 3.5 / 66
    expected = np.array([0.5 / 11, 0.5 / 11, 1.5 / 11, 2 / 11, 3 / 11, 0]) + floor
    got = np.exp(NGram(arrays, 6, 1).next_log_probs(np.zeros((1, 0), dtype=np.int64)))[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


def test_degenerate_counts_fall_back_to_one_discount():
    arrays = fit_ngram(np.array([0, 1, 2]), 4, 3)  # every count is 1: n2 = 0
    np.testing.assert_allclose(arrays["discounts"], 0.75)


def markov_text(n, S, seed):
    """n symbols of a random order-2 chain over S symbols (the next depends on the last two); also
    the chain's exact entropy rate in nats and its transition table T[a, b, c] = P(c | a, b)."""
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(S), size=(S, S))  # T[a, b, c] = P(c | a, b)
    # the pair chain (a, b) -> (b, c): stationary distribution by power iteration
    P = np.zeros((S * S, S * S))
    for a, b, c in itertools.product(range(S), repeat=3):
        P[a * S + b, b * S + c] = T[a, b, c]
    pi = np.full(S * S, 1 / S ** 2)
    for _ in range(2000):
        pi = pi @ P
    rate = float(pi @ -(T * np.log(T)).sum(axis=2).reshape(-1))
    cum = [list(np.cumsum(T[a, b])) for a in range(S) for b in range(S)]
    u = rng.random(n).tolist()
    x, a, b = [], 0, 0
    for t in range(n):
        c = min(bisect.bisect_right(cum[a * S + b], u[t]), S - 1)
        x.append(c)
        a, b = b, c
    return np.array(x, dtype=np.int64), rate, T


def test_nll_reaches_the_entropy_rate_of_a_markov_chain():
    x, rate, T = markov_text(250_000, 5, seed=0)
    train, test = x[:200_000], x[200_000:]
    true_nll = -np.log(T[x[199_998:-2], x[199_999:-1], test]).mean()  # the chain itself on this test text
    # the chain remembers two symbols: the 3-gram model is the matching one, the 4-gram one more
    for order in (3, 4):
        nll = -model(train, 5, order).log_prob_stream(test, history=train).mean()
        assert abs(nll - rate) < 0.02, (order, nll, rate)
        assert abs(nll - true_nll) < 0.005, (order, nll, true_nll)
    # a bigram model cannot see the second symbol of memory: it falls short
    nll2 = -model(train, 5, 2).log_prob_stream(test, history=train).mean()
    assert nll2 > rate


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("method, discount", SETTINGS)
def test_unknown_symbol_has_finite_log_prob(order, method, discount):
    m = model(np.array([0, 1, 2, 0, 1, 2, 1]), 4, order, method, discount)
    logp = m.log_prob_stream(np.array([3, 0, 3, 3, 1]), history=np.array([2]))
    assert np.all(np.isfinite(logp)) and logp[0] < 0


def test_arrays_are_flat_numpy_and_rebuild_the_model():
    codes = np.random.default_rng(0).integers(0, 6, 500)
    arrays = fit_ngram(codes, 7, 3)
    assert set(arrays) == {"keys_1", "keys_2", "keys_3", "count_1", "count_2", "count_3", "discounts"}
    assert all(isinstance(a, np.ndarray) and a.dtype in (np.int64, np.float64) for a in arrays.values())
    copied = NGram({k: a.copy() for k, a in arrays.items()}, 7, 3)
    np.testing.assert_array_equal(copied.log_prob_stream(codes[:50]), NGram(arrays, 7, 3).log_prob_stream(codes[:50]))


@pytest.mark.parametrize("call", [
    lambda: fit_ngram(np.array([0, 1]), 2, 0),
    lambda: fit_ngram(np.array([0, 2]), 2, 2),
    lambda: fit_ngram(np.array([-1, 0]), 2, 2),
    lambda: fit_ngram(np.array([], dtype=np.int64), 2, 2),
    lambda: fit_ngram(np.array([0, 1]), 2, 2, method="witten_bell"),
    lambda: fit_ngram(np.array([0, 1]), 2, 2, discount=1.5),
    lambda: fit_ngram(np.array([0, 1]), 2, 2, method="additive", smoothing=0),
    lambda: fit_ngram(np.array([0.5, 1.0]), 2, 2),
    lambda: NGram(fit_ngram(np.array([0, 1]), 2, 2), 2, 3),
    lambda: NGram(fit_ngram(np.array([0, 1]), 2, 2), 2, 2).next_log_probs(np.zeros((3, 2), dtype=np.int64)),
    lambda: NGram(fit_ngram(np.array([0, 1]), 2, 2), 2, 2).next_log_probs(np.full((3, 1), 2)),
    lambda: NGram(fit_ngram(np.array([0, 1]), 2, 2), 2, 2).log_prob_stream(np.array([0, 5])),
])
def test_bad_args_raise_genlab_error(call):
    with pytest.raises(GenlabError):
        call()
