"""A Markov chain over pixels in raster order: the textbook state transition matrix, one per position.

With ``context: previous`` the state is the previous pixel in raster order, and the model
is p(x) = prod_t P_t[x_{t-1}, x_t], one transition matrix p_ij = P(X_t = j | X_{t-1} = i)
per position (the first pixel's state is a "start" state). With ``context: left_up`` the
state is the pair (left neighbour, upper neighbour), a border state standing in outside the
image. Counts are smoothed additively; the likelihood is exact. Completing an image is exact
too: with ``previous``, under any mask, by the forward algorithm over the chain with the hidden
pixels summed out (and forward filtering, backward sampling to draw them); with ``left_up``, where
no visible pixel's state reads a hidden one (the bottom half), by the hidden pixels' own transitions.

Text (``MarkovText``): an order-``order`` chain over characters, P(x_t | the ``order``
characters before it), with interpolated modified Kneser-Ney smoothing or additive
smoothing (``genlab.models._ngram``). Order 1 is the textbook transition matrix
p_ij = P(X_t+1 = j | X_t = i), drawn as ``transitions.png``; for a higher order the picture
shows the training text's transition frequencies, which the chain refines with more history.

Music (``MarkovMusic``): a transition matrix over chords. Every distinct frame
of the training pieces is a state; P(chord_t | the ``order`` chords before it in its piece)
is the same Kneser-Ney (or additive) estimator over chord codes, each piece led by ``order``
start symbols (so no counted n-gram spans two pieces), so transitions back off to shorter histories and finally to the chords' unigram
distribution. A frame that is no training chord escapes to the per-key Bernoulli
(``genlab.data.music.ChordEscape``, escape mass estimated from the validation pieces), so every
frame of 2^88 has an exact, finite probability and they sum to one.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field

from genlab.config.schema import Section
from genlab.data.images import heatmap
from genlab.data.music import ChordEscape
from genlab.errors import GenlabError
from genlab.models._ngram import ChainTables
from genlab.models.base import GenerativeModel, MusicModel, SequenceModel
from genlab.nn.discrete import draw, smoothed_log_probs


class Markov(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False
    MAX_ENTRIES = 2**28  # 2 GiB of float64: 8-bit 28x28 images with `previous` need 52 M

    class Params(Section):
        context: Literal["previous", "left_up"] = Field(
            "previous", description="the state: `previous` pixel in raster order, or the `left_up` neighbours"
        )
        smoothing: float = Field(
            0.5, gt=0, le=1e6,
            description="pseudo-count added to every transition count (images; text and music with `method: additive`) and to each key's counts (music's escape)",
        )
        order: int = Field(
            6, ge=1, le=16,
            description="text: characters of history (1: the transition matrix P(X_t+1 = j | X_t = i)); music: chords of history; chosen on validation",
        )
        method: Literal["kneser_ney", "additive"] = Field(
            "kneser_ney", description="text and music: `kneser_ney` (interpolated, modified; Chen & Goodman 1999) or `additive`"
        )
        discount: Optional[float] = Field(
            None, gt=0, lt=1,
            description="text and music, `kneser_ney`: one discount for every count and order; `null`: three per order estimated from the counts of counts",
        )
        conditional: bool = Field(
            False, description="labelled images: one model per class on that class's training images, p(y) the classes' "
            "frequencies: p(x | class) and p(x) = sum_y p(y) p(x | y) exact; samples are drawn for the class asked for"
        )

    def __init__(self, params: "Markov.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        L = self.n_levels
        self.n_states = L + 1 if params.context == "previous" else (L + 1) ** 2
        entries = self.dim * self.n_states * L
        if entries > self.MAX_ENTRIES:
            raise GenlabError(
                f"markov.context: {params.context!r} at {L} levels needs a table of {entries:,} probabilities "
                f"({entries * 8 / 2**30:.0f} GiB); use " + ("'previous' or " if params.context != "previous" else "") + "fewer levels"
            )
        self.register_buffer("log_probs", torch.zeros(self.dim, self.n_states, L, dtype=torch.float64))

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """The state of every pixel, (N, D) int64, from images (N, C, H, W); border/start = L."""
        x = x.long()
        L = self.n_levels
        if self.params.context == "previous":
            flat = x.flatten(1)
            start = torch.full_like(flat[:, :1], L)
            return torch.cat([start, flat[:, :-1]], dim=1)
        left = torch.nn.functional.pad(x[..., :, :-1], (1, 0), value=L)
        up = torch.nn.functional.pad(x[..., :-1, :], (0, 0, 1, 0), value=L)
        return (left * (L + 1) + up).flatten(1)

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        S, L = self.n_states, self.n_levels
        pos = torch.arange(self.dim).expand(len(train), -1)
        index = (pos * S + self.states(train)) * L + train.flatten(1).long()
        counts = torch.bincount(index.reshape(-1), minlength=self.dim * S * L)
        self.log_probs.copy_(smoothed_log_probs(counts.reshape(self.dim, S, L), self.params.smoothing))
        return {}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(self.dim, device=x.device).expand(len(x), -1)
        return self.log_probs[pos, self.states(x), x.flatten(1).long()].sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        x = torch.zeros(n, *self.shape, dtype=torch.long, device=self.log_probs.device)
        flat = x.view(n, -1)
        for t in range(self.dim):  # pixel by pixel: each state needs the pixels drawn before it
            state = self.states(x)[:, t]
            flat[:, t] = draw(self.log_probs[t, state], generator)
        return x.to(torch.uint8)

    # -- completion: the hidden pixels given the visible ones -----------------------------
    def _reads_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, D): True where a pixel's state reads a hidden pixel."""
        h = hidden.view(len(hidden), *self.shape).to(torch.uint8)
        if self.params.context == "previous":
            flat = h.flatten(1)
            return torch.cat([torch.zeros_like(flat[:, :1]), flat[:, :-1]], dim=1).bool()
        left = torch.nn.functional.pad(h[..., :, :-1], (1, 0))
        up = torch.nn.functional.pad(h[..., :-1, :], (0, 0, 1, 0))
        return (left | up).flatten(1).bool()

    def _ancestral(self, hidden: torch.Tensor) -> bool:
        """True when no visible pixel's state reads a hidden one (the `bottom` half, say): p(x_h | x_v)
        is then the product of the hidden pixels' own transitions, and drawing them in raster order is exact."""
        return not bool((self._reads_hidden(hidden) & ~hidden).any())

    def _forward(self, flat: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """The forward pass of the chain (``previous``) with the visible pixels clamped: (D, N, L)
        log alpha_t(j) = log p(x_v up to t, X_t = j), in float64 (a matrix product per pixel in
        probability space, rescaled by each row's largest value)."""
        N, D, L = len(flat), self.dim, self.n_levels
        probs = self.log_probs[:, :L].exp()  # (D, L, L) transitions from a level (the start state is row L)
        levels = torch.arange(L, device=flat.device)
        alphas = torch.empty(D, N, L, dtype=torch.float64, device=flat.device)
        a = self.log_probs[0, L].expand(N, L)
        for t in range(D):
            if t:
                top = a.amax(1, keepdim=True)
                a = ((a - top).exp() @ probs[t]).log() + top
            a = a.masked_fill(~(hidden[:, t : t + 1] | (levels == flat[:, t : t + 1])), -torch.inf)
            alphas[t] = a
        return alphas

    def _chunk(self) -> int:
        """Images per forward pass: its (D, n, L) table stays about 128 MB."""
        return max(1, 2**24 // (self.dim * self.n_levels))

    def completion_log_prob(self, x, hidden, k=0, generator=None, batch_size=64, steps=0):
        """Exact. ``previous``: log p(x) - log p(x_v), p(x_v) by the forward algorithm over the chain
        with the hidden pixels summed out (any mask); ``left_up``: the hidden pixels' own transitions
        where no visible pixel's state reads a hidden one (else None: the sum runs over a grid, not a chain)."""
        x, hidden = x.to(self.log_probs.device), hidden.to(self.log_probs.device)
        if self.params.context != "previous":
            if not self._ancestral(hidden):
                return None
            pos = torch.arange(self.dim, device=x.device).expand(len(x), -1)
            terms = self.log_probs[pos, self.states(x), x.flatten(1).long()]
            return terms.masked_fill(~hidden, 0).sum(-1), "exact"
        flat, out = x.flatten(1).long(), []
        for f, h in zip(flat.split(self._chunk()), hidden.split(self._chunk())):
            out.append(torch.logsumexp(self._forward(f, h)[-1], 1))
        return self.log_prob(x) - torch.cat(out), "exact"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps=0):
        """Exact. ``previous``: forward filtering, backward sampling (any mask); ``left_up``: the hidden
        pixels drawn in raster order where no visible pixel's state reads a hidden one, else None."""
        x, hidden = x.to(self.log_probs.device), hidden.to(self.log_probs.device)
        if self.params.context != "previous":
            if not self._ancestral(hidden):
                return None
            out = x.long().clone()
            flat = out.view(len(x), -1)
            for t in range(self.dim):
                if hidden[:, t].any():
                    drawn = draw(self.log_probs[t, self.states(out)[:, t]], generator)
                    flat[:, t] = torch.where(hidden[:, t], drawn, flat[:, t])
            return out.to(torch.uint8)
        L, parts = self.n_levels, []
        for f, h in zip(x.flatten(1).long().split(self._chunk()), hidden.split(self._chunk())):
            alphas, f = self._forward(f, h), f.clone()
            for t in range(self.dim - 1, -1, -1):
                logits = alphas[t]
                if t < self.dim - 1:  # times P_{t+1}[i, x_{t+1}]
                    logits = logits + self.log_probs[t + 1, :L].T[f[:, t + 1]]
                drawn = draw(logits - logits.logsumexp(1, keepdim=True), generator)
                f[:, t] = torch.where(h[:, t], drawn, f[:, t])
            parts.append(f)
        return torch.cat(parts).reshape(x.shape).to(torch.uint8)


class MarkovText(ChainTables, SequenceModel):
    """Text: an order-``order`` character chain (``genlab.models._ngram``), exact and normalised in every context."""

    trains_by_gradient = False
    Params = Markov.Params
    SHOWN = 96  # the transition picture shows at most this many symbols, the most frequent

    @property
    def history(self) -> int:
        return self.params.order

    def chain_args(self) -> dict:
        p = self.params
        return {"vocab_size": self.n_levels, "order": p.order + 1, "method": p.method, "discount": p.discount, "smoothing": p.smoothing}

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        codes = train.long().numpy()
        tables = self.fit_tables(codes)
        # the training text's pair counts among its most frequent symbols, for the picture
        shown = np.sort(np.argsort(-np.bincount(codes, minlength=self.n_levels), kind="stable")[: self.SHOWN])
        where = np.full(self.n_levels, -1)
        where[shown] = np.arange(len(shown))
        a, b = where[codes[:-1]], where[codes[1:]]
        keep = (a >= 0) & (b >= 0)
        pairs = np.bincount(a[keep] * len(shown) + b[keep], minlength=len(shown) ** 2).reshape(len(shown), len(shown))
        self.register_buffer("shown", torch.as_tensor(shown))
        self.register_buffer("pair_counts", torch.as_tensor(pairs))
        return {"ngrams": int(sum(len(tables[f"keys_{n}"]) for n in range(1, self.params.order + 2)))}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The tables' sizes come from the training text, so the buffers are made here from the checkpoint."""
        tables = self.tables_in(state_dict)
        ours = set(self.PREFIX + k for k in tables) | {"shown", "pair_counts"}
        unexpected = sorted(set(state_dict) - ours)
        if strict and (unexpected or not tables):
            raise RuntimeError(f"MarkovText: unexpected keys {unexpected}" if unexpected else "MarkovText: no tables in the state dict")
        self.set_tables(tables)
        for key in ("shown", "pair_counts"):
            if key in state_dict:
                self.register_buffer(key, state_dict[key].cpu())
        return torch.nn.modules.module._IncompatibleKeys([], unexpected)

    def uncounted_flop(self, what: str, n: int) -> int:
        return self.lookups(what, n)

    def transition_matrix(self) -> torch.Tensor:
        """Among the shown symbols: at order 1 the chain's own p_ij = P(X_t+1 = j | X_t = i); above,
        the training text's transition frequencies (the chain itself conditions on more)."""
        shown = self.shown.long()
        if self.params.order == 1:
            context = shown.unsqueeze(1)
            return self.next_log_probs(context).exp()[:, shown]
        counts = self.pair_counts.double()
        return counts / counts.sum(1, keepdim=True).clamp(min=1)

    def figures(self, meta: dict) -> dict:
        names = {"\n": "\\n", " ": "sp", "\t": "\\t"}
        vocab = meta.get("vocab", [])
        labels = [names.get(vocab[i], vocab[i]) if i < len(vocab) else "?" for i in self.shown.tolist()]
        if self.params.order == 1:
            title = "the chain: P(next = column | current = row)"
        else:
            title = f"training text: P(next = column | current = row); the order-{self.params.order} chain sees {self.params.order} characters"
        if len(self.shown) < self.n_levels:
            title += f"; the {len(self.shown)} most frequent of {self.n_levels} symbols"
        return {"transitions.png": heatmap(self.transition_matrix(), labels, title)}


class MarkovMusic(ChainTables, MusicModel):
    """Music: an order-``order`` chain over chords (``genlab.models._ngram`` over chord codes, a start symbol
    before every piece), escaping to the per-key Bernoulli for frames that are no training chord."""

    trains_by_gradient = False
    Params = Markov.Params
    ROWS = 2**23  # probabilities computed at once (64 MiB of float64)

    def __init__(self, params: "Markov.Params", shape, n_levels, n_chords: int = 0):
        super().__init__(params, shape, n_levels, n_chords)
        self.escape = ChordEscape(self.n_chords, self.keys)
        self.unseen, self.start = self.n_chords, self.n_chords + 1  # the chain's extra symbols

    def chain_args(self) -> dict:
        p = self.params
        return {"vocab_size": self.n_chords + 2, "order": p.order + 1, "method": p.method, "discount": p.discount, "smoothing": p.smoothing}

    def stream(self, codes: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(the pieces' chord codes, each led by ``order`` start symbols and the last one followed by
        as many; where each frame is in it). No n-gram of the chain's order holds chords of two
        pieces, so the chain does not depend on the order of the pieces."""
        h = self.params.order
        codes, lengths = codes.long().cpu().numpy(), lengths.long().cpu().numpy()
        piece = np.repeat(np.arange(len(lengths)), lengths)
        pos = np.arange(len(codes)) + (piece + 1) * h  # each frame shifted by the start symbols before it
        s = np.full(len(codes) + (len(lengths) + 1) * h, self.start, dtype=np.int64)
        s[pos] = codes
        return s, pos

    def fit(self, train: tuple, val: tuple) -> dict:
        x, codes, lengths = train
        s, _ = self.stream(codes, lengths)
        self.fit_tables(s)
        info = self.escape.fit(x, codes, val[1], self.params.smoothing)
        return {"chords": self.n_chords, **info}

    def _chord_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """log P(chord | context) over the training chords (rows: contexts), the chain's mass on its two
        extra symbols (the unseen chord, the start symbol) taken out and the rest renormalised."""
        lp = self.chain.next_log_probs(contexts)
        extra = np.logaddexp(lp[:, self.unseen], lp[:, self.start])
        return lp[:, : self.n_chords] - np.log1p(-np.exp(extra))[:, None]

    def contexts(self, s: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The ``order`` symbols before each frame: its piece's start symbols, then its chords."""
        return s[pos[:, None] - self.params.order + np.arange(self.params.order)]

    def uncounted_flop(self, what: str, n: int) -> int:
        return self.lookups(what, n)  # per frame, times the chain's symbols for a draw

    def frame_log_probs(self, x, codes, lengths) -> torch.Tensor:
        s, pos = self.stream(codes, lengths)
        ctx = self.contexts(s, pos)
        target = np.minimum(codes.long().cpu().numpy(), self.n_chords - 1)  # unseen frames: ignored by mix
        rows = max(1, self.ROWS // (self.n_chords + 2))
        chord = np.concatenate([
            self._chord_log_probs(ctx[a : a + rows])[np.arange(len(ctx[a : a + rows])), target[a : a + rows]]
            for a in range(0, len(ctx), rows)
        ])
        return self.escape.mix(torch.from_numpy(chord), x, codes.long()).cpu()

    @torch.no_grad()
    def sample_pieces(self, n, length, generator, temperature: float = 1.0, primer=None) -> torch.Tensor:
        """Chord by chord from the start symbols, or from the last ``order`` chords of ``primer``."""
        h = self.params.order
        ctx = np.full((n, h), self.start, dtype=np.int64)
        if primer is not None and len(primer) and h:
            codes = self.escape.codes_of(torch.as_tensor(primer)).cpu().numpy()[-h:]
            ctx[:, h - len(codes):] = codes
        out = torch.empty(n, length, self.keys, dtype=torch.uint8)
        for t in range(length):
            lp = torch.from_numpy(self._chord_log_probs(ctx)).to(self.escape.escape.device)
            frames, codes = self.escape.draw(lp, generator, temperature)
            out[:, t] = frames.cpu()
            ctx = np.concatenate([ctx[:, 1:], codes.cpu().numpy()[:, None]], axis=1)
        return out


MODEL = (Markov, MarkovText, MarkovMusic)
