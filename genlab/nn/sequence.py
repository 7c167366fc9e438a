"""Sequence networks the autoregressive models share: a GPT-style causal Transformer (with a
key-value cache for sampling) and a GRU, both mapping codes (B, T) to logits (B, T, vocab)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, cache: dict | None, capacity: int):
        """``cache`` (sampling): preallocated keys and values of ``capacity`` positions, written in place."""
        B, T, C = x.shape  # batch, positions, width
        # query, key, value of every head: (B, heads, T, C / heads)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        if cache is None and not capacity:  # training and scoring: the whole window at once
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=T > 1)
        else:
            if cache is None:
                cache = {"k": k.new_empty(B, self.heads, capacity, C // self.heads), "v": v.new_empty(B, self.heads, capacity, C // self.heads), "n": 0}
            n = cache["n"]
            assert n == 0 or T == 1, "a filled cache takes one new position at a time"
            cache["k"][:, :, n : n + T], cache["v"][:, :, n : n + T] = k, v
            cache["n"] = n + T
            y = F.scaled_dot_product_attention(q, cache["k"][:, :, : n + T], cache["v"][:, :, : n + T], is_causal=n == 0 and T > 1)
        # y: (B, heads, T, C / heads) -> the heads side by side (B, T, C)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), cache


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cache, capacity: int = 0):
        a, cache = self.attn(self.ln1(x), cache, capacity)
        x = x + self.drop(a)
        return x + self.mlp(self.ln2(x)), cache


class Transformer(nn.Module):
    """GPT-style: token and position embeddings, pre-norm blocks, a linear head."""

    def __init__(self, vocab: int, p, n_inputs: int | None = None):
        super().__init__()
        self.tok = nn.Embedding(n_inputs or vocab + 1, p.width)  # text: + the begin symbol
        self.pos = nn.Embedding(p.context, p.width)
        self.drop = nn.Dropout(p.dropout)
        self.blocks = nn.ModuleList(Block(p.width, p.heads, p.dropout) for _ in range(p.layers))
        self.ln = nn.LayerNorm(p.width)
        self.head = nn.Linear(p.width, vocab, bias=False)

    def forward(self, tokens: torch.Tensor, state: list | None = None, cached: bool = False, extra: torch.Tensor | None = None):
        """Logits (B, T, vocab) and the state: with ``cached``, a key-value cache of one window that
        the next call (one new position) extends. ``extra`` (B, T, width) is added to the input embedding."""
        start = 0 if state is None else state[0]["n"]  # tokens: (B, T) codes
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.tok(tokens) + self.pos(pos)  # (B, T, width)
        x = self.drop(x if extra is None else x + extra)
        capacity = self.pos.num_embeddings if cached else 0
        caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, None if state is None else state[i], capacity)
            caches.append(cache)
        return self.head(self.ln(x)), caches if cached else None


class Recurrent(nn.Module):
    """A GRU over embedded symbols, a linear head on its outputs."""

    def __init__(self, vocab: int, p, n_inputs: int | None = None):
        super().__init__()
        self.tok = nn.Embedding(n_inputs or vocab + 1, p.width)
        self.rnn = nn.GRU(p.width, p.width, p.layers, batch_first=True, dropout=p.dropout if p.layers > 1 else 0.0)
        self.drop = nn.Dropout(p.dropout)
        self.head = nn.Linear(p.width, vocab)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None, cached: bool = False, extra: torch.Tensor | None = None):
        x = self.tok(tokens)
        out, state = self.rnn(self.drop(x if extra is None else x + extra), state)
        return self.head(self.drop(out)), state


NETS = {"transformer": Transformer, "gru": Recurrent}
