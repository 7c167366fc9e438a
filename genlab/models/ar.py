"""A neural autoregressive model of a sequence: a small causal Transformer or a GRU (``ar.arch``).

It sees windows of ``context`` symbols, each led by a begin symbol (code ``n_levels``) that
stands for "what came before is not shown": the input [BOS, x_1 .. x_{T-1}] predicts
[x_1 .. x_T], every output a softmax over all ``n_levels`` symbols (the unknown one
included). Training cuts the text into windows at fresh random offsets every epoch
(``training_batches``) and runs the shared gradient loop (AdamW on the weight matrices,
the section's cosine schedule, gradient clipping). The exact test likelihood scores every
symbol once with at least half a window of history (``log_prob_stream``). Sampling keeps a
key-value cache (Transformer) or its recurrent state (GRU) within a window and, when the
window is full, starts the next window from the last half window, as the likelihood is scored.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genlab.discrete import draw
from genlab.errors import GenlabError, TooShort
from genlab.models.base import SequenceModel
from genlab.schema import GradientParams
from genlab.train import check_finite, make_adam


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, cache: dict | None, capacity: int):
        """``cache`` (sampling): preallocated keys and values of ``capacity`` positions, written in place."""
        B, T, C = x.shape
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

    def __init__(self, vocab: int, p):
        super().__init__()
        self.tok = nn.Embedding(vocab + 1, p.width)  # + the begin symbol
        self.pos = nn.Embedding(p.context, p.width)
        self.drop = nn.Dropout(p.dropout)
        self.blocks = nn.ModuleList(Block(p.width, p.heads, p.dropout) for _ in range(p.layers))
        self.ln = nn.LayerNorm(p.width)
        self.head = nn.Linear(p.width, vocab, bias=False)

    def forward(self, tokens: torch.Tensor, state: list | None = None, cached: bool = False):
        """Logits (B, T, vocab) and the state: with ``cached``, a key-value cache of one window that
        the next call (one new position) extends."""
        start = 0 if state is None else state[0]["n"]
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.drop(self.tok(tokens) + self.pos(pos))
        capacity = self.pos.num_embeddings if cached else 0
        caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, None if state is None else state[i], capacity)
            caches.append(cache)
        return self.head(self.ln(x)), caches if cached else None


class Recurrent(nn.Module):
    """A GRU over embedded symbols, a linear head on its outputs."""

    def __init__(self, vocab: int, p):
        super().__init__()
        self.tok = nn.Embedding(vocab + 1, p.width)
        self.rnn = nn.GRU(p.width, p.width, p.layers, batch_first=True, dropout=p.dropout if p.layers > 1 else 0.0)
        self.drop = nn.Dropout(p.dropout)
        self.head = nn.Linear(p.width, vocab)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None, cached: bool = False):
        out, state = self.rnn(self.drop(self.tok(tokens)), state)
        return self.head(self.drop(out)), state


NETS = {"transformer": Transformer, "gru": Recurrent}


class AutoRegressive(SequenceModel):
    modalities = ("text",)

    class Params(GradientParams):
        arch: Literal["transformer", "gru"] = Field("transformer", description="`transformer` (causal, key-value cache) or `gru`")
        context: int = Field(128, ge=2, description="window length in symbols; the likelihood gives each symbol at least half of it as history")
        layers: int = Field(4, ge=1, description="Transformer blocks or GRU layers")
        width: int = Field(256, ge=8, description="embedding and hidden width")
        heads: int = Field(4, ge=1, description="`transformer`: attention heads (dividing `width`)")
        dropout: float = Field(0.0, ge=0, lt=1, description="dropout on embeddings, attention and residual branches (try 0.1-0.2 on a small text)")
        grad_clip: float = Field(1.0, ge=0, description="clip the gradient's norm to this (0: no clipping)")
        lr: float = Field(1e-3, gt=0, description="AdamW learning rate")
        batch_size: int = Field(32, ge=1, description="windows per step")
        epochs: int = Field(10, ge=1, description="most epochs; an epoch is one pass over the training text in windows")
        patience: int = Field(3, ge=1, description="epochs without a better validation loss before stopping")
        weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay of the weight matrices (not of biases, norms, embeddings)")
        lr_schedule: Literal["constant", "cosine"] = Field("cosine", description="cosine: the lr falls along a half cosine to lr_final * lr over `epochs`")
        lr_final: float = Field(0.1, ge=0, le=1, description="final lr as a fraction of lr (lr_schedule: cosine)")

    def __init__(self, params: "AutoRegressive.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        if params.arch == "transformer" and params.width % params.heads:
            raise GenlabError(f"ar.heads: {params.heads} does not divide ar.width {params.width}")
        self.bos = self.n_levels
        self.net = NETS[params.arch](self.n_levels, params)
        with torch.no_grad():  # the unknown symbol never occurs in training text: as input it means nothing
            self.net.tok.weight[self.n_levels - 1].zero_()

    @property
    def history(self) -> int:
        return self.params.context - 1

    # -- training -------------------------------------------------------------
    def inputs(self, windows: torch.Tensor) -> torch.Tensor:
        """[BOS, x_1 .. x_{T-1}] for windows (B, T) of codes."""
        bos = torch.full_like(windows[:, :1], self.bos)
        return torch.cat([bos, windows[:, :-1]], dim=1).long()

    def loss(self, windows: torch.Tensor) -> torch.Tensor:
        logits, _ = self.net(self.inputs(windows))
        return F.cross_entropy(logits.reshape(-1, self.n_levels).float(), windows.reshape(-1).long())

    def training_batches(self, train: torch.Tensor, val: torch.Tensor):
        T, n = self.params.context, len(train)
        if n < T + 1:
            raise TooShort(f"the training text has {n} characters, fewer than ar.context + 1 = {T + 1}; lower ar.context")
        text = train.long().to(self.device)
        offsets = torch.arange(0, n - T + 1, T)
        steps = torch.arange(T, device=self.device)

        def windows(batch: tuple, generator: torch.Generator) -> tuple:
            (starts,) = batch  # fresh random offsets every epoch: every window boundary moves
            shift = torch.randint(0, T, (len(starts),), generator=generator).to(starts.device)
            starts = (starts + shift).clamp(max=n - T)
            return (text[starts.unsqueeze(1) + steps],)

        T_val = min(T, len(val))
        val_windows = val.long()[: len(val) // T_val * T_val].view(-1, T_val)
        return offsets, val_windows, windows

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        """AdamW, decaying the weight matrices only (not biases, norms or embeddings)."""
        decayed: dict[bool, list] = {True: [], False: []}
        for name, p in self.net.named_parameters():
            decayed[p.dim() >= 2 and not name.startswith(("tok", "pos"))].append(p)
        groups = [{"params": decayed[True]}, {"params": decayed[False], "weight_decay": 0.0}]
        return [make_adam(groups, self.params, betas=(0.9, 0.99), decoupled=True)]

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        (opt,) = optimizers
        loss = check_finite(self.loss(*batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.params.grad_clip:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.params.grad_clip)
        opt.step()
        return {"loss": loss.detach()}

    # -- likelihood -------------------------------------------------------------
    @torch.no_grad()
    def next_log_probs(self, context: torch.Tensor) -> torch.Tensor:
        context = context.to(self.device)
        out = torch.empty(len(context), self.n_levels, dtype=torch.float64, device=self.device)
        valid = (context >= 0).sum(1)
        for k in valid.unique().tolist():  # rows with the same number of symbols (-1: none) together
            rows = (valid == k).nonzero().squeeze(1)
            tokens = torch.cat([torch.full((len(rows), 1), self.bos, device=self.device), context[rows][:, context.shape[1] - k :]], 1)
            logits, _ = self.net(tokens.long())
            out[rows] = logits[:, -1].double().log_softmax(-1)
        return out

    @torch.no_grad()
    def log_prob_stream(self, x: torch.Tensor, history: torch.Tensor, batch: int = 64) -> torch.Tensor:
        T, half = self.params.context, self.params.context // 2
        hist = history[-half:] if half else history[:0]
        s = torch.cat([hist, x]).long().to(self.device)
        H, end = len(hist), len(s)
        spans, p = [], H  # window [a, a + T) scores the targets [p, min(a + T, end))
        while p < end:
            a = max(0, p - half)
            spans.append((a, p, min(a + T, end)))
            p = spans[-1][2]
        padded = torch.cat([s, s.new_zeros(T)])
        steps = torch.arange(T, device=self.device)
        out = []
        for i in range(0, len(spans), batch):
            chunk = spans[i : i + batch]
            starts = torch.tensor([a for a, _, _ in chunk], device=self.device)
            targets = padded[starts.unsqueeze(1) + steps]
            logits, _ = self.net(self.inputs(targets))
            logp = logits.double().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            out.extend(logp[j, p - a : q - a] for j, (a, p, q) in enumerate(chunk))
        return torch.cat(out)

    # -- sampling ---------------------------------------------------------------
    @torch.no_grad()
    def sample_stream(self, n, length, generator, temperature: float = 1.0, prompt: torch.Tensor | None = None):
        """The network keeps its key-value cache (Transformer) or recurrent state (GRU) within a
        window and, when the window is full, starts the next one from the last half window, as
        the likelihood is scored and the model was trained."""
        T, half = self.params.context, self.params.context // 2
        prompt = (prompt if prompt is not None else torch.zeros(0)).long().to(self.device)
        seen = prompt.expand(n, -1)  # the prompt
        bos = torch.full((n, 1), self.bos, dtype=torch.long, device=self.device)
        shown = seen[:, len(prompt) - min(len(prompt), T - 1) :]
        logits, state = self.net(torch.cat([bos, shown], 1), cached=True)
        filled = 1 + shown.shape[1]
        out = torch.empty(n, length, dtype=torch.long, device=self.device)
        for t in range(length):
            out[:, t] = draw(logits[:, -1].float().log_softmax(-1), generator, temperature)
            if t == length - 1:
                break
            if filled == T:  # the window is full: the next one starts from its last half
                recent = torch.cat([seen, out[:, : t + 1]], 1)[:, -half:] if half else seen[:, :0]
                logits, state = self.net(torch.cat([bos, recent], 1), cached=True)
                filled = 1 + recent.shape[1]
            else:
                logits, state = self.net(out[:, t : t + 1], state, cached=True)
                filled += 1
        return out


MODEL = AutoRegressive
