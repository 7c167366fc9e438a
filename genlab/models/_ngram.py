"""A character n-gram language model: an order-k Markov chain over integer codes 0..V-1.

Two estimators, both exact and normalised over all V symbols in every context:

``kneser_ney`` -- interpolated modified Kneser-Ney smoothing (Chen & Goodman 1999). For a
context h of length n-1 and a symbol w,

    P_n(w | h) = max(c(hw) - D_n(c(hw)), 0) / c(h) + gamma(h) * P_{n-1}(w | h'),
    gamma(h)   = (D_n1 N1(h.) + D_n2 N2(h.) + D_n3+ N3+(h.)) / c(h),

where h' is h without its oldest symbol, c(h) = sum_w c(hw) and N_r(h.) is the number of
symbols w with c(hw) == r (>= 3 for 3+). At the highest order c is the raw count; at every
lower order it is the continuation count N1+(. hw), the number of distinct symbols that
precede hw in training -- the start of the training text counts as one such predecessor
(as <s> does in the usual sentence-based setting), so every n-gram seen in training has a
positive count at every order. A context with c(h) == 0 (never seen, or no symbol available
at the start of a text) falls through: P_n(w | h) = P_{n-1}(w | h'). The base is
P_1(w) = max(c(w) - D, 0) / S + gamma * 1/V, the uniform over all V symbols, so a symbol
never seen in training (e.g. an "unknown" code) still gets positive probability.

Discounts, one triple (D1, D2, D3+) per order from that order's count-of-counts n_r (the
number of n-grams whose count, raw or continuation, is exactly r):
Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3.
D1 = Y lies in (0, 1); D2 and D3+ are clamped to [D1, 2] and [D1, 3] (positive, so every
seen context passes mass down and every probability is positive). When any of n1..n4 is
zero the estimates are meaningless and the order falls back to a single discount 0.75.
A float ``discount`` in (0, 1) instead uses that one discount for every count and order
(textbook interpolated Kneser-Ney).

``additive`` -- Laplace/Lidstone: P(w | h) = (c(hw) + s) / (c(h) + s V) with raw counts of
the highest order; at the start of a text, where fewer than order-1 symbols precede, the
shorter context is used with the raw counts of its own order.

Representation: every distinct substring of length m seen in training has an id, its index
in the sorted int64 array ``keys_m`` of keys ``id(its first m-1 symbols) * V + last symbol``
(keys_1 are the symbols themselves, the empty string having id 0). Sorted keys put each
context's children in one contiguous range, found by ``np.searchsorted``; a test substring
is looked up the same way, length by length, and an unseen one makes every longer substring
containing it unseen. All work is vectorised over positions and contexts; loops run over
orders only.

Reference: S. F. Chen and J. Goodman, "An empirical study of smoothing techniques for
language modeling", Technical Report TR-10-98, Harvard University, 1998 (Computer Speech
and Language 13, 1999).
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.errors import GenlabError

METHODS = ("kneser_ney", "additive")
FALLBACK_DISCOUNT = 0.75


def _check_args(vocab_size: int, order: int, method: str, discount: float | None, smoothing: float) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise GenlabError(f"ngram: vocab_size must be a positive integer, got {vocab_size!r}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise GenlabError(f"ngram: order must be an integer >= 1, got {order!r}")
    if method not in METHODS:
        raise GenlabError(f"ngram: method must be one of {', '.join(METHODS)}, got {method!r}")
    if discount is not None and not (isinstance(discount, (int, float)) and 0 < discount < 1):
        raise GenlabError(f"ngram: discount must be None or a number in (0, 1), got {discount!r}")
    if not (isinstance(smoothing, (int, float)) and smoothing > 0 and np.isfinite(smoothing)):
        raise GenlabError(f"ngram: smoothing must be a positive number, got {smoothing!r}")


def _as_codes(codes, vocab_size: int, what: str, low: int = 0) -> np.ndarray:
    """``codes`` as an int64 array, every value in low..V-1 (a GenlabError otherwise)."""
    a = np.asarray(codes)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise GenlabError(f"ngram: {what} must be integer codes, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.size and (a.min() < low or a.max() >= vocab_size):
        raise GenlabError(f"ngram: {what} must lie in {low}..{vocab_size - 1}, got {a.min()}..{a.max()}")
    return a


def _estimate_discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney (D1, D2, D3+) from one order's counts; 0.75 each when degenerate."""
    n = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)  # n1..n4
    if np.any(n == 0):
        return np.full(3, FALLBACK_DISCOUNT)
    y = n[0] / (n[0] + 2 * n[1])
    d1 = 1 - 2 * y * n[1] / n[0]
    d2 = 2 - 3 * y * n[2] / n[1]
    d3 = 3 - 4 * y * n[3] / n[2]
    return np.array([d1, min(max(d2, d1), 2.0), min(max(d3, d1), 3.0)])


def fit_ngram(codes: np.ndarray, vocab_size: int, order: int, method: str = "kneser_ney",
              discount: float | None = None, smoothing: float = 0.5) -> dict[str, np.ndarray]:
    """Count the training codes; every table as a flat dict of numpy arrays.

    ``keys_n`` (int64, sorted): the distinct n-grams, key = id of its first n-1 symbols * V + last
    symbol, an n-gram's id being its index here; ``count_n`` (int64): the count each estimator
    uses at order n (kneser_ney: raw at the highest order, continuation below; additive: raw);
    kneser_ney also has ``discounts`` (order, 3) float64, the (D1, D2, D3+) of orders 1..order.
    """
    _check_args(vocab_size, order, method, discount, smoothing)
    x = _as_codes(codes, vocab_size, "training codes")
    if x.ndim != 1:
        raise GenlabError(f"ngram: training codes must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise GenlabError("ngram: no training codes")
    V, N = int(vocab_size), len(x)
    arrays: dict[str, np.ndarray] = {}
    # prev[i]: id of the length m-1 substring ending at position i + m - 2 (the empty one: id 0).
    prev = np.zeros(N + 1, dtype=np.int64)
    for m in range(1, order + 1):
        L = max(N - m + 1, 0)
        keys, ids = np.unique(prev[:L] * V + x[m - 1:], return_inverse=True)
        ids = ids.reshape(-1).astype(np.int64, copy=False)
        arrays[f"keys_{m}"] = keys.astype(np.int64, copy=False)
        if method == "kneser_ney" and m > 1:
            # continuation count of each (m-1)-gram: distinct m-grams ending with it, + 1 at the text start
            suffix = np.empty(len(keys), dtype=np.int64)
            suffix[ids] = prev[1:L + 1]
            cont = np.bincount(suffix, minlength=len(arrays[f"keys_{m - 1}"])).astype(np.int64)
            if len(prev):
                cont[prev[0]] += 1
            arrays[f"count_{m - 1}"] = cont
        if method == "additive" or m == order:
            arrays[f"count_{m}"] = np.bincount(ids, minlength=len(keys)).astype(np.int64)
        prev = ids
    if method == "kneser_ney":
        if discount is None:
            arrays["discounts"] = np.stack([_estimate_discounts(arrays[f"count_{n}"]) for n in range(1, order + 1)])
        else:
            arrays["discounts"] = np.full((order, 3), float(discount))
    return arrays


class NGram:
    """The model of ``fit_ngram``'s arrays: exact log-probabilities of streams and next symbols.

    The discounts are those stored in ``arrays``; ``discount`` and ``smoothing`` are the fit's
    scalar args (smoothing is used by ``additive``).
    """

    def __init__(self, arrays: dict[str, np.ndarray], vocab_size: int, order: int, method: str = "kneser_ney",
                 discount: float | None = None, smoothing: float = 0.5):
        _check_args(vocab_size, order, method, discount, smoothing)
        self.vocab_size, self.order, self.method = int(vocab_size), int(order), method
        self.smoothing = float(smoothing)
        needed = [f"{k}_{n}" for n in range(1, order + 1) for k in ("keys", "count")]
        needed += ["discounts"] if method == "kneser_ney" else []
        missing = [k for k in needed if k not in arrays]
        if missing or f"keys_{order + 1}" in arrays:
            raise GenlabError(f"ngram: arrays do not fit an order-{order} {method} model "
                              f"({'missing ' + ', '.join(missing) if missing else 'more orders stored'})")
        V = self.vocab_size
        # Per order n (index n; index 0 unused): sorted keys, and per-n-gram / per-context tables,
        # each with one extra trailing entry that id -1 (unseen, or unavailable) picks up.
        self.keys: list[np.ndarray] = [np.zeros(0, np.int64)]
        self.alpha: list[np.ndarray] = [np.zeros(0)]   # kneser_ney: discounted count / c(h); additive: count
        self.gamma: list[np.ndarray] = [np.zeros(0)]   # kneser_ney: back-off weight; additive: c(h)
        disc = np.asarray(arrays["discounts"], dtype=np.float64) if method == "kneser_ney" else None
        if disc is not None and disc.shape != (order, 3):
            raise GenlabError(f"ngram: discounts must have shape ({order}, 3), got {disc.shape}")
        for n in range(1, order + 1):
            keys = np.asarray(arrays[f"keys_{n}"]).astype(np.int64, copy=False)
            count = np.asarray(arrays[f"count_{n}"]).astype(np.float64)
            if keys.shape != count.shape or keys.ndim != 1:
                raise GenlabError(f"ngram: keys_{n} and count_{n} must be 1-D of one length")
            n_ctx = 1 if n == 1 else len(self.keys[n - 1])
            ctx = keys // V
            total = np.bincount(ctx, weights=count, minlength=n_ctx)
            if method == "kneser_ney":
                d = np.where(count > 0, disc[n - 1][np.clip(count, 1, 3).astype(np.int64) - 1], 0.0)
                seen = total > 0
                safe = np.where(seen, total, 1.0)
                alpha = np.maximum(count - d, 0.0) / safe[ctx]
                gamma = np.where(seen, np.bincount(ctx, weights=np.minimum(d, count), minlength=n_ctx) / safe, 1.0)
                self.alpha.append(np.append(alpha, 0.0))
                self.gamma.append(np.append(gamma, 1.0))
            else:
                self.alpha.append(np.append(count, 0.0))
                self.gamma.append(np.append(total, 0.0))
            self.keys.append(keys)
        if method == "kneser_ney":
            # the base: discounted unigrams plus the uniform floor over all V symbols
            self.p1 = np.full(V, self.gamma[1][0] / V)
            self.p1[self.keys[1]] += self.alpha[1][:-1]

    # -- lookups -------------------------------------------------------------------------
    def _lookup(self, n: int, query: np.ndarray) -> np.ndarray:
        """The id of each key in ``keys_n``, -1 where absent."""
        keys = self.keys[n]
        if len(keys) == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        idx = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return np.where(keys[idx] == query, idx, -1)

    def _ids(self, seq: np.ndarray, upto: int):
        """For n = 1..upto: (ctx, cur), the ids of the length n-1 substring ending just before and
        the length n substring ending at each position of ``seq`` along its last axis (-1: unseen,
        or running into the start / a -1 code)."""
        V = self.vocab_size
        prev = np.zeros(seq.shape, dtype=np.int64)  # the empty string, id 0, everywhere
        ok_code = seq >= 0
        for n in range(1, upto + 1):
            if n == 1:
                ctx = prev
            else:
                ctx = np.full(seq.shape, -1, dtype=np.int64)
                ctx[..., 1:] = prev[..., :-1]
            ok = ok_code & (ctx >= 0)
            cur = np.full(seq.shape, -1, dtype=np.int64)
            cur[ok] = self._lookup(n, ctx[ok] * V + seq[ok])
            yield n, ctx, cur
            prev = cur

    def _scatter_children(self, out: np.ndarray, n: int, rows: np.ndarray, ctx: np.ndarray) -> None:
        """out[row, w] += alpha_n[hw] over the children w of context id ctx (>= 0) of each row."""
        keys, V = self.keys[n], self.vocab_size
        lo = np.searchsorted(keys, ctx * V)
        hi = np.searchsorted(keys, ctx * V + V)
        lens = hi - lo
        total = int(lens.sum())
        if total == 0:
            return
        pos = np.arange(total) + np.repeat(lo - (np.cumsum(lens) - lens), lens)
        out[np.repeat(rows, lens), keys[pos] % V] += self.alpha[n][pos]

    # -- scoring ---------------------------------------------------------------------------
    def log_prob_stream(self, codes: np.ndarray, history: np.ndarray | None = None) -> np.ndarray:
        """float64 log P(codes[t] | the order-1 preceding codes) for every t, each symbol scored once;
        ``history`` (codes that precede ``codes``) supplies the context of the first positions. With
        fewer than order-1 preceding codes available, the shorter available context is used."""
        V, K = self.vocab_size, self.order
        codes = _as_codes(codes, V, "codes")
        hist = _as_codes(np.zeros(0, np.int64) if history is None else history, V, "history")
        if codes.ndim != 1 or hist.ndim != 1:
            raise GenlabError("ngram: codes and history must be 1-D")
        hist = hist[len(hist) - min(len(hist), K - 1):]
        full = np.concatenate([hist, codes])
        start = len(hist)
        if self.method == "kneser_ney":
            p = self.p1[full]
            for n, ctx, cur in self._ids(full, K):
                if n > 1:
                    p = self.alpha[n][cur] + self.gamma[n][ctx] * p
            return np.log(p[start:])
        s = self.smoothing
        t = np.arange(len(full))
        used = np.minimum(t, K - 1) + 1  # the order each position is scored at
        p = np.empty(len(full))
        for n, ctx, cur in self._ids(full, K):
            sel = used == n
            p[sel] = (self.alpha[n][cur[sel]] + s) / (self.gamma[n][ctx[sel]] + s * V)
        return np.log(p[start:])

    def next_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """(B, V) float64 log-probabilities of the next symbol after each context of ``contexts``
        (int64, (B, order-1), oldest first; -1 marks 'no symbol', the context then being the
        codes to the right of the last -1); each row sums to one in probability."""
        V, K = self.vocab_size, self.order
        c = _as_codes(contexts, V, "contexts", low=-1)
        if c.ndim != 2 or c.shape[1] != K - 1:
            raise GenlabError(f"ngram: contexts must have shape (B, {K - 1}), got {c.shape}")
        B = len(c)
        suffix = [np.zeros(B, dtype=np.int64)]  # suffix[m]: id of the last m context codes
        if K > 1:
            suffix += [cur[:, -1] for _, _, cur in self._ids(c, K - 1)]
        if self.method == "kneser_ney":
            p = np.tile(self.p1, (B, 1))
            for n in range(2, K + 1):
                h = suffix[n - 1]
                p *= self.gamma[n][h][:, None]
                rows = np.flatnonzero(h >= 0)
                self._scatter_children(p, n, rows, h[rows])
            return np.log(p)
        # additive: the order is set by how many codes follow the last -1
        neg = c < 0
        last_neg = np.where(neg.any(axis=1), K - 2 - np.argmax(neg[:, ::-1], axis=1), -1) if K > 1 else np.full(B, -1)
        avail = K - 2 - last_neg
        counts = np.zeros((B, V))
        total = np.empty(B)
        for n in range(1, K + 1):
            rows = np.flatnonzero(avail == n - 1)
            h = suffix[n - 1][rows]
            total[rows] = self.gamma[n][h]
            seen = h >= 0
            self._scatter_children(counts, n, rows[seen], h[seen])
        s = self.smoothing
        return np.log((counts + s) / (total[:, None] + s * V))


class ChainTables:
    """A module's fitted chain: the ``NGram`` tables as its buffers (``PREFIX`` + the table's name),
    sized by the text the chain is fit on, so made by ``fit_tables`` or again from a checkpoint by
    ``set_tables(tables_in(state_dict))``; the chain's scores with tensors in and out. A class using
    it gives ``chain_args`` (``fit_ngram``'s keyword args)."""

    PREFIX = "ngram_"
    chain: NGram | None = None

    def chain_args(self) -> dict:
        raise NotImplementedError

    def set_tables(self, tables: dict) -> None:
        for key, value in tables.items():
            self.register_buffer(self.PREFIX + key, torch.as_tensor(np.asarray(value)))
        self.chain = NGram({k: np.asarray(v) for k, v in tables.items()}, **self.chain_args())

    def fit_tables(self, codes: np.ndarray) -> dict:
        tables = fit_ngram(codes, **self.chain_args())
        self.set_tables(tables)
        return tables

    def tables_in(self, state_dict: dict) -> dict:
        return {k[len(self.PREFIX):]: v.cpu() for k, v in state_dict.items() if k.startswith(self.PREFIX)}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The tables' sizes come from the text the chain was fit on, so the buffers are made here from the checkpoint."""
        self.set_tables(self.tables_in(state_dict))
        return super().load_state_dict(state_dict, strict, assign)

    def next_log_probs(self, context: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.chain.next_log_probs(context.cpu().numpy())).to(context.device)

    def log_prob_stream(self, x: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        logp = self.chain.log_prob_stream(x.long().cpu().numpy(), history.long().cpu().numpy())
        return torch.from_numpy(logp).to(x.device)

    def lookups(self, what: str, n: int) -> int:
        """One look-up per order of the interpolated estimate, per symbol (times the vocabulary for a draw)."""
        per = self.chain.order * n
        return per * self.chain.vocab_size if what == "sample" else per


class Chain(ChainTables, torch.nn.Module):
    """A Kneser–Ney chain (estimated discounts) as a part of another model (``ar.ngram``): its
    tables its only state, fit in closed form."""

    trains_by_gradient = False

    def __init__(self, vocab_size: int, order: int):
        super().__init__()
        self.args = {"vocab_size": vocab_size, "order": order + 1, "method": "kneser_ney"}

    def chain_args(self) -> dict:
        return self.args
