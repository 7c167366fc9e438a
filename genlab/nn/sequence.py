"""Sequence networks the autoregressive models share: a GPT-style causal Transformer with rotary
positions and an attention span, and a GRU. Both map codes (B, T) to logits (B, T, vocab) over
a whole window (``net(tokens)``), and both continue a stream a chunk at a time
(``net.stream(tokens, state)``): the Transformer keeps the keys and values of the last ``span``
positions of every layer in a ring, the GRU its recurrent state, so a stream of any length is
scored and sampled without restarting."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn


def rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of ``x`` (B, heads, T, d) at positions ``pos`` (T,):
    each pair of channels (i, i + d/2) turned by the angle pos * 10000^(-2i/d). A query and a key
    then meet by their distance only. Angles are taken in float64, so that a position far into a
    stream turns as precisely as one near its start."""
    half = x.shape[-1] // 2
    freq = 10000.0 ** (-torch.arange(half, dtype=torch.float64, device=x.device) / half)
    angle = pos.to(torch.float64).unsqueeze(1) * freq  # (T, d/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


LEVELS = 1 << 16  # a CPU dropout mask's resolution: 16 random bits an element


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: each element zeroed with probability ``p``, the rest scaled by 1 / (1 - p).

    On a CPU the mask is cut from 64-bit draws of torch's generator, three 16-bit pieces each
    (its draws are uniform below 2^63, so the piece holding the top bit is left out): one draw
    for three elements instead of ``bernoulli_``'s one each, which makes the whole operation 2 to
    3 times faster than ``F.dropout`` (`make bench-levers`), with ``p`` rounded to a multiple of
    1 / 65,536 (0.2 is 13,107 / 65,536). Other devices use ``F.dropout``. Seeded runs repeat."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    dropped = min(round(p * LEVELS), LEVELS - 1)  # p just below 1 still keeps one level in 65,536
    n = x.numel()
    draws = torch.empty(-(-n // 3), dtype=torch.int64).random_()
    pieces = draws.view(torch.int16).view(-1, 4)  # the top bit is in the last piece, or the first if big-endian
    pieces = pieces[:, :3] if sys.byteorder == "little" else pieces[:, 1:]
    keep = pieces.reshape(-1)[:n].view(x.shape) >= dropped - LEVELS // 2
    return x * keep.to(x.dtype).mul_(LEVELS / (LEVELS - dropped))


class Dropout(nn.Module):
    """``dropout`` as a layer: active in training mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def band(queries: torch.Tensor, keys: torch.Tensor, span: int) -> torch.Tensor:
    """(Tq, Tk) bool: the query at position q sees the key at position k when 0 <= q - k < span."""
    d = queries.unsqueeze(1) - keys.unsqueeze(0)
    return (d >= 0) & (d < span)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, span: int):
        super().__init__()
        self.heads, self.dropout, self.span = heads, dropout, span
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def split(self, x: torch.Tensor, pos: torch.Tensor):
        """Query, key, value of every head (B, heads, T, C / heads), queries and keys turned to ``pos``."""
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        return rotate(q, pos), rotate(k, pos), v

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape  # the heads side by side (B, T, C)
        return self.proj(y.transpose(1, 2).reshape(B, T, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A whole window (training, scoring): causal, each position seeing the ``span`` up to itself."""
        T = x.shape[1]
        pos = torch.arange(T, device=x.device)
        q, k, v = self.split(x, pos)
        drop = self.dropout if self.training else 0.0
        if drop > 0 and x.device.type == "cpu":  # the weights, dropped as ``dropout`` drops
            mask = band(pos, pos, self.span)
            weights = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).masked_fill(~mask, float("-inf")).softmax(-1)
            y = dropout(weights, drop, True) @ v
        elif T <= self.span:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=band(pos, pos, self.span), dropout_p=drop)
        return self.merge(y)

    def stream(self, x: torch.Tensor, ring: dict) -> torch.Tensor:
        """The next chunk (B, T, C) of a stream whose last ``span`` keys and values sit in ``ring``
        (position p in slot p % span), which is updated in place."""
        B, T, _ = x.shape
        n, S = ring["n"], self.span
        pos = torch.arange(n, n + T, device=x.device)
        q, k, v = self.split(x, pos)
        if "k" not in ring:
            ring["k"] = k.new_zeros(B, self.heads, S, k.shape[-1])
            ring["v"] = v.new_zeros(B, self.heads, S, v.shape[-1])
        if T == 1:  # one step: write its slot, attend to every filled slot (order does not matter)
            ring["k"][:, :, n % S], ring["v"][:, :, n % S] = k[:, :, 0], v[:, :, 0]
            m = min(n + 1, S)  # plain products read the ring faster than the fused kernel does at one query
            w = (q @ ring["k"][:, :, :m].transpose(-1, -2)) * q.shape[-1] ** -0.5
            y = w.softmax(-1) @ ring["v"][:, :, :m]
        else:  # a chunk: the past keys in order, then its own, under the band
            m = min(n, S - 1)
            past = torch.arange(n - m, n, device=x.device)
            keys = torch.cat([ring["k"][:, :, past % S], k], 2)
            values = torch.cat([ring["v"][:, :, past % S], v], 2)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=band(pos, torch.cat([past, pos]), S))
            last = pos[-S:]
            ring["k"][:, :, last % S], ring["v"][:, :, last % S] = k[:, :, -S:], v[:, :, -S:]
        ring["n"] = n + T
        return self.merge(y)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, span: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout, span)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), Dropout(dropout))
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, ring: dict | None = None) -> torch.Tensor:
        a = self.attn(self.ln1(x)) if ring is None else self.attn.stream(self.ln1(x), ring)
        x = x + self.drop(a)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """GPT-style: token embeddings, pre-norm blocks whose attention turns queries and keys by their
    positions (rotary) and sees the last ``span`` positions (itself included), a linear head.
    Stacked, the blocks see further back: ``layers * (span - 1)`` positions."""

    def __init__(self, vocab: int, p, n_inputs: int | None = None, span: int | None = None):
        super().__init__()
        self.span = span or p.context
        self.tok = nn.Embedding(n_inputs or vocab + 1, p.width)  # text: + the begin symbol
        self.drop = Dropout(p.dropout)
        self.blocks = nn.ModuleList(Block(p.width, p.heads, p.dropout, self.span) for _ in range(p.layers))
        self.ln = nn.LayerNorm(p.width)
        self.head = nn.Linear(p.width, vocab, bias=False)

    def embed(self, tokens: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        x = self.tok(tokens)  # (B, T, width)
        return self.drop(x if extra is None else x + extra)

    def forward(self, tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) of whole windows (B, T) of codes; ``extra`` (B, T, width) is added to the input embedding."""
        x = self.embed(tokens, extra)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))

    def stream(self, tokens: torch.Tensor, state: list | None = None, extra: torch.Tensor | None = None):
        """Logits of the next chunk (B, T) of a stream, and the state that continues it (None: a new stream)."""
        state = state if state is not None else [{"n": 0} for _ in self.blocks]
        x = self.embed(tokens, extra)
        for block, ring in zip(self.blocks, state):
            x = block(x, ring)
        return self.head(self.ln(x)), state


class Recurrent(nn.Module):
    """A GRU over embedded symbols, a linear head on its outputs."""

    def __init__(self, vocab: int, p, n_inputs: int | None = None, span: int | None = None):
        super().__init__()
        self.tok = nn.Embedding(n_inputs or vocab + 1, p.width)
        self.rnn = nn.GRU(p.width, p.width, p.layers, batch_first=True, dropout=p.dropout if p.layers > 1 else 0.0)
        self.drop = nn.Dropout(p.dropout)
        self.head = nn.Linear(p.width, vocab)

    def forward(self, tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.stream(tokens, None, extra)[0]

    def stream(self, tokens: torch.Tensor, state: torch.Tensor | None = None, extra: torch.Tensor | None = None):
        x = self.tok(tokens)
        out, state = self.rnn(self.drop(x if extra is None else x + extra), state)
        return self.head(self.drop(out)), state


NETS = {"transformer": Transformer, "gru": Recurrent}


class FrameHead(nn.Module):
    """p(frame | c) over ``keys`` binary keys, one key after another (the lowest first), each a
    Bernoulli given the conditioning vector c and the keys before it: a MADE (Germain et al. 2015)
    with one masked hidden layer and direct key-to-key weights, conditioned on c (as the NADE
    of RNN-NADE is on the RNN's state; Boulanger-Lewandowski et al. 2012). Every one of the 2^keys
    frames gets an exact, normalised probability."""

    def __init__(self, keys: int, width: int, hidden: int):
        super().__init__()
        self.keys, self.hidden = keys, hidden
        self.inp = nn.Linear(keys, hidden, bias=False)
        self.out = nn.Linear(hidden, keys, bias=False)
        self.direct = nn.Linear(keys, keys, bias=False)
        self.cond = nn.Linear(width, hidden + keys)  # c -> the hidden units' and the keys' biases
        key_degree = torch.arange(1, keys + 1)  # key k is the k-th decided
        unit_degree = torch.arange(hidden) % max(keys - 1, 1) + 1  # a unit sees the keys up to its degree
        self.register_buffer("mask_in", (unit_degree.unsqueeze(1) >= key_degree.unsqueeze(0)).float(), persistent=False)
        self.register_buffer("mask_out", (key_degree.unsqueeze(1) > unit_degree.unsqueeze(0)).float(), persistent=False)
        self.register_buffer("mask_direct", torch.ones(keys, keys).tril(-1), persistent=False)

    def logits(self, c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., keys) logit of each key given c (..., width) and the keys before it in x (..., keys)."""
        hc, bias = self.cond(c).split([self.hidden, self.keys], dim=-1)
        h = torch.relu(F.linear(x, self.inp.weight * self.mask_in) + hc)
        return F.linear(h, self.out.weight * self.mask_out) + F.linear(x, self.direct.weight * self.mask_direct) + bias

    def log_prob(self, c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | c) of frames x (..., keys) in {0, 1}, summed over keys in float64."""
        x = x.to(c.dtype)
        logits = self.logits(c, x).double()
        return -F.binary_cross_entropy_with_logits(logits, x.double(), reduction="none").sum(-1)

    def sample(self, c: torch.Tensor, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """Frames (B, keys) uint8 drawn key by key given c (B, width); each key's logit divided by ``temperature``."""
        x = c.new_zeros(len(c), self.keys)
        u = torch.rand(len(c), self.keys, generator=generator, device=generator.device).to(c.device)
        for k in range(self.keys):
            p = torch.sigmoid(self.logits(c, x)[:, k].double() / temperature)
            x[:, k] = (u[:, k] < p).to(x.dtype)
        return x.to(torch.uint8)
