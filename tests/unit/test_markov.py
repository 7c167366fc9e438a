"""The Markov chain (over pixels in raster order, characters, or a piece's chords): its
probabilities against hand computation, its refusal of a table too large, and the entropy rates
of known chains it reaches. Its n-gram tables: test_ngram.py; with the other baselines:
test_baselines.py."""

import math

import numpy as np
import pytest
import torch

from genlab.config.params import parse_params
from genlab.data.music import chord_codes, chord_table
from genlab.errors import GenlabError
from genlab.models import registry
from genlab.models.base import music_summary
from genlab.models.markov import Markov, MarkovText
from helpers import toy_meta_and_data

TINY = torch.tensor([[[[0, 1, 1]]], [[[0, 0, 1]]]], dtype=torch.uint8)  # two 1x3 images, 2 levels


def test_markov_nll_against_hand_computation():
    m = Markov(Markov.Params(smoothing=1.0), (1, 1, 3), 2)
    m.fit(TINY, TINY)
    # first pixel from the start state: counts [2, 0] -> 3/4, 1/4
    # second pixel, previous 0: counts [1, 1] -> 1/2; previous 1: unseen -> 1/2
    # third pixel, previous 1 or 0: counts [0, 1] -> 1/3, 2/3
    expected = [
        math.log(3 / 4) + math.log(1 / 2) + math.log(2 / 3),  # 0 1 1
        math.log(1 / 4) + math.log(1 / 2) + math.log(1 / 3),  # 1 0 0
    ]
    x = torch.tensor([[[[0, 1, 1]]], [[[1, 0, 0]]]], dtype=torch.uint8)
    assert m.log_prob(x).tolist() == pytest.approx(expected, abs=1e-12)


def test_markov_refuses_a_table_too_large_in_one_line():
    # 784 pixels x 257^2 (left, up) states x 256 levels
    with pytest.raises(GenlabError, match=r"^markov.context: 'left_up' at 256 levels needs a table of 13,256,298,496 "):
        Markov(Markov.Params(context="left_up"), (1, 28, 28), 256)
    assert Markov(Markov.Params(), (1, 28, 28), 256).n_states == 257  # 'previous' fits (52 M entries)


def test_markov_reaches_the_entropy_rate_of_an_order_2_chain():
    """A text drawn from a known order-2 chain over 4 symbols: the fitted chain's test nll is
    within 0.02 nats of the chain's exact entropy rate."""
    rng = np.random.default_rng(0)
    K = 4
    P = rng.dirichlet(np.full(K, 0.5), size=(K, K))  # P[a, b, c] = p(c | a, b)
    # the pair chain (a, b) -> (b, c): its stationary distribution weights the per-pair entropies
    T = np.zeros((K * K, K * K))
    for a in range(K):
        for b in range(K):
            T[a * K + b, b * K : b * K + K] = P[a, b]
    w, v = np.linalg.eig(T.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi /= pi.sum()
    rate = -(pi.reshape(K, K)[..., None] * P * np.log(P)).sum()
    n = 250_000
    u = rng.random(n)
    cum = P.cumsum(-1)
    x = np.zeros(n, dtype=np.int64)
    for t in range(2, n):
        x[t] = min(np.searchsorted(cum[x[t - 2], x[t - 1]], u[t]), K - 1)
    x = torch.from_numpy(x)
    train, test = x[:200_000], x[200_000:]
    m = MarkovText(Markov.Params(order=2), (), K + 1)  # + the unknown symbol
    m.fit(train, None)
    nll = -m.log_prob_stream(test, train[-2:]).mean().item()
    assert abs(nll - rate) < 0.02, (nll, rate)


def test_the_chord_chain_does_not_depend_on_the_order_of_the_training_pieces():
    rng = np.random.default_rng(3)
    frames, table, meta, train, val, inputs = toy_meta_and_data(rng)
    x, codes, lengths = train
    pieces = [(x[a : a + n], codes[a : a + n]) for a, n in zip(np.cumsum([0, *lengths.tolist()[:-1]]), lengths.tolist())]
    order = rng.permutation(len(pieces))
    shuffled = (torch.cat([pieces[i][0] for i in order]), torch.cat([pieces[i][1] for i in order]), lengths[order])
    test = inputs([frames[[1, 3, 6, 9, 12, 3, 1]], frames[[12, 9, 6]]])
    out = []
    for data in (train, shuffled):
        model = registry.build("markov", parse_params({"markov": {"order": 3}}, models=["markov"]).markov, meta)
        model.fit(data, val)
        out.append(model.frame_log_probs(*test))
    assert torch.allclose(out[0], out[1], rtol=0, atol=1e-12)


def chain_rolls(P, start, n_pieces, length, rng, chords):
    out = []
    for _ in range(n_pieces):
        s = [rng.choice(len(start), p=start)]
        for _ in range(length - 1):
            s.append(rng.choice(len(P), p=P[s[-1]]))
        out.append(chords[s])
    return out


def test_the_chord_chain_reaches_the_entropy_rate_of_a_known_chain():
    rng = np.random.default_rng(1)
    chords = np.zeros((5, 88), np.uint8)
    for i, notes in enumerate([(39, 43, 46), (41, 44, 48), (43, 46, 50), (44, 48, 51), (46, 50, 53)]):
        chords[i, list(notes)] = 1
    P = rng.dirichlet(np.full(5, 0.7), size=5)
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(abs(w - 1))])
    pi /= pi.sum()
    rate = -float(np.sum(pi[:, None] * P * np.log(P)))
    split = {s: chain_rolls(P, pi, n, 400, rng, chords) for s, n in (("train", 40), ("val", 10), ("test", 25))}
    table = chord_table(np.concatenate(split["train"]))
    meta = {"kind": "music", "shape": [88], "n_levels": 2, "n_chords": len(table)}

    def inputs(ps):
        x = np.concatenate(ps)
        return torch.from_numpy(x), torch.from_numpy(chord_codes(x, table)), torch.tensor([len(p) for p in ps])

    model = registry.build("markov", parse_params({"markov": {"order": 1}}, models=["markov"]).markov, meta)
    model.fit(inputs(split["train"]), inputs(split["val"]))
    x, codes, lengths = inputs(split["test"])
    nll = music_summary(model.frame_log_probs(x, codes, lengths), lengths)["nll"]
    index = {r.tobytes(): i for i, r in enumerate(chords)}
    states = [[index[r.tobytes()] for r in p] for p in split["test"]]
    true = -np.mean([math.log(pi[s[0]]) if t == 0 else math.log(P[s[t - 1], s[t]]) for s in states for t in range(len(s))])
    assert abs(nll - true) < 0.05 and abs(nll - rate) < 0.05, (nll, true, rate)
    assert model.escape.escape.item() < 1e-3  # estimated: every validation frame is a training chord
    model.escape.escape.fill_(0.1)  # a fixed escape of 0.1 costs about -ln 0.9 = 0.105 nats
    fixed = music_summary(model.frame_log_probs(x, codes, lengths), lengths)["nll"]
    assert fixed - true > 0.05
