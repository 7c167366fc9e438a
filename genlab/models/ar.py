"""A neural autoregressive model of a sequence: a small causal Transformer or a GRU (``ar.arch``).

Text: training windows of ``context`` symbols, each led by a begin symbol (code ``n_levels``)
that stands for "what came before is not shown": the input [BOS, x_1 .. x_{T-1}] predicts
[x_1 .. x_T], every output a softmax over all ``n_levels`` symbols (the unknown one included).
The Transformer's attention turns queries and keys by their positions (rotary) and sees the
last ``span`` positions (default half the window, so half of every training window learns
without the window's start in view). Training cuts the text into windows at fresh random
offsets every epoch (``training_batches``) and runs the shared gradient loop (AdamW on the
weight matrices, the section's cosine schedule, gradient clipping; ``train_dtype`` bfloat16
autocasts its products). Scoring and sampling are one stream, never restarted: BOS, the last
``context - 1`` symbols before, then the text, a window at a time on a ring of each layer's
last ``span`` keys and values (the GRU: its state carried on), so every symbol drawn has the
probability the exact, float32 scoring pass gives it (tested). With ``ngram`` set, a Kneser–Ney
chain of that order (``genlab.models._ngram.Chain``, as ``markov``'s) is fit on the training text after the
network, and every next-symbol distribution is the mixture w p_net + (1 - w) p_chain, w the
weight that fits the validation text best (EM); scoring and sampling mix alike (float64).

Music (``MusicAR``): the same networks over frames, in windows of ``context`` frames, a longer
piece's later windows restarted from their last half in scoring as in sampling. Each frame enters as its chord (an embedding per training
chord, one for a frame training never saw) plus a linear map of its 88 keys, so unseen and rare
chords still say which notes sound; a window starts with a "piece starts here" or "earlier
frames not shown" symbol. ``output: chords``: a softmax over the training chords, mixed with the
per-key Bernoulli escape (``genlab.data.music.ChordEscape``), so every frame of 2^88 has an exact
probability; the loss is the cross-entropy of the frames' chords (frames that are no training
chord are left out: their escape term is fixed). ``output: keys``: the network's output
conditions a MADE over the 88 keys (``genlab.nn.sequence.FrameHead``), the frame's probability
the product of each key's given the history and the keys below it; the loss is every frame's
nats. ``output: both`` (the default): the chord softmax with that MADE as its escape in place of
the independent keys; each head learns its own loss (chords' cross-entropy, frames' nats),
since every training frame is a training chord and a mixture's loss would leave the escape
untrained.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genlab.config.schema import GradientParams
from genlab.data.music import ChordEscape, piece_starts
from genlab.errors import GenlabError, TooShort
from genlab.models._ngram import Chain
from genlab.models.base import MusicModel, SequenceModel
from genlab.nn.discrete import draw
from genlab.nn.optim import check_finite, make_adam
from genlab.nn.sequence import NETS, FrameHead
from genlab.runtime import cpu_bf16


class AdamWClipped:
    """The optimiser and step of both ``ar`` models: AdamW decaying the weight matrices only (not
    biases, norms or the embedding ``net.tok``), gradient norm clipped to ``grad_clip``."""

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        decayed: dict[bool, list] = {True: [], False: []}
        for name, p in self.named_parameters():
            decayed[p.dim() >= 2 and not name.startswith("net.tok")].append(p)
        groups = [{"params": decayed[True]}, {"params": decayed[False], "weight_decay": 0.0}]
        return [make_adam(groups, self.params, betas=(0.9, 0.99), decoupled=True)]

    def train_dtype(self) -> torch.dtype:
        """What training multiplies in: ``train_dtype``, ``auto`` resolved on this device (bfloat16
        where it multiplies bf16 natively: AMX or AVX-512 BF16 on a CPU, bf16 support on CUDA)."""
        want = self.params.train_dtype
        if want == "auto":
            if self.device.type == "cuda":
                fast = torch.cuda.is_bf16_supported()
            else:
                fast = cpu_bf16() != "no-bf16"
            want = "bfloat16" if fast else "float32"
        return getattr(torch, want)

    def dtype_name(self) -> str:
        """``train_dtype()`` as the training metrics record it ("bfloat16", "float32")."""
        return str(self.train_dtype()).removeprefix("torch.")

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        (opt,) = optimizers
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.train_dtype() == torch.bfloat16):
            loss = check_finite(self.objective(*batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.params.grad_clip:
            nn.utils.clip_grad_norm_(self.parameters(), self.params.grad_clip)
        opt.step()
        return {"loss": loss.detach()}


class AutoRegressive(AdamWClipped, SequenceModel):
    modalities = ("text",)
    # CPU: samples decoded together, at most (the rings' memory). One setting for every machine, since the
    # groups decide which random numbers each row draws: 1,000 x 500 characters all at once were 1.3 to 1.4
    # times faster than in groups of 256 on the AMD EPYC and 1.07 times slower on the Intel Xeon (bench-levers).
    DECODE_ROWS = 1000

    class Params(GradientParams):
        arch: Literal["transformer", "gru"] = Field("transformer", description="`transformer` (causal, key-value cache) or `gru`")
        context: int = Field(128, ge=2, le=2**16, description="window length in symbols; the likelihood gives each symbol at least half of it as history")
        layers: int = Field(4, ge=1, le=1024, description="Transformer blocks or GRU layers")
        width: int = Field(256, ge=8, le=GradientParams.MAX_WIDTH, description="embedding and hidden width")
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
        span: int | None = Field(
            None, ge=1, description="`transformer`, text: each symbol attends to the `span` symbols up to itself, and the "
            "stacked layers see `layers * (span - 1)` back; scoring and sampling then run as one stream with no restarts. "
            "null: context // 2, so that half of every training window no longer sees the window's start, as a stream "
            "does not (music: windows of `context`, each restarted from its last half)")
        output: Literal["chords", "keys", "both"] = Field(
            "both", description="music: `chords`, a softmax over the training chords with a per-key escape for the others; "
            "`keys`, each frame's 88 keys one after another (lowest first), each given the history and the keys below it "
            "(a MADE head, as RNN-NADE's NADE); `both`, the chord softmax with the keys head as its escape (every frame exact)")
        ngram: int = Field(
            0, ge=0, le=16, description="text: mix in a Kneser–Ney chain of this order (`markov`'s, discounts estimated) "
            "fit on the same training text, p = w p_net + (1 - w) p_chain, the weight w fit to the validation text after "
            "training (exact, scored and sampled as one; 0: the network alone)")
        train_dtype: Literal["float32", "bfloat16", "auto"] = Field(
            "float32", description="what training multiplies in: `bfloat16` autocast (the loss, scoring and sampling stay "
            "float32 or better), `auto`: bfloat16 where the device multiplies bf16 natively (a CPU with AMX or AVX-512 BF16; CUDA), else float32")

    def __init__(self, params: "AutoRegressive.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        check_heads(params)
        span = params.span or max(1, params.context // 2)
        if span > params.context:
            raise GenlabError(f"ar.span: {span} is longer than ar.context {params.context}, the training windows it is learnt in")
        self.bos = self.n_levels
        self.net = NETS[params.arch](self.n_levels, params, span=span)
        with torch.no_grad():  # the unknown symbol never occurs in training text: as input it means nothing
            self.net.tok.weight[self.n_levels - 1].zero_()
        if params.ngram:  # its tables are sized by the training text: filled in by finish_fit or load_state_dict
            self.chain = Chain(n_levels, params.ngram)
            self.register_buffer("chain_weight", torch.ones((), dtype=torch.float64))  # 1: the network alone

    @property
    def history(self) -> int:
        return max(self.params.context - 1, self.params.ngram)

    @property
    def mixed(self) -> bool:
        """Whether the chain is fitted and mixed in (not while the network trains)."""
        return bool(self.params.ngram) and self.chain.chain is not None

    def finish_fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        if not self.params.ngram:
            return {"train_dtype": self.dtype_name()}
        self.chain.fit_tables(train.long().cpu().numpy())
        self.eval()
        history = train[len(train) - min(len(train), self.history):]
        net = self.net_log_prob_stream(val.long().to(self.device), history).cpu()
        chain = self.chain.log_prob_stream(val, history)
        w = mixing_weight(net, chain)
        self.chain_weight.fill_(w)
        mixed = self.mix(net, chain)  # what log_prob_stream gives, from the two streams already scored
        return {"train_dtype": self.dtype_name(), "ngram_weight": w, "val_nll_net": -net.mean().item(),
                "val_nll_chain": -chain.mean().item(), "val_nll_mixed": -mixed.mean().item()}

    def mix(self, net: torch.Tensor, chain: torch.Tensor) -> torch.Tensor:
        """log(w p_net + (1 - w) p_chain) in float64, from the two log-probabilities."""
        w = self.chain_weight.double()
        return torch.logaddexp(net.double() + w.log(), chain.double().to(net.device) + torch.log1p(-w))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The chain's tables, sized by the training text, are made here from the checkpoint."""
        mine = {k[len("chain."):]: v for k, v in state_dict.items() if k.startswith("chain.")}
        if self.params.ngram and mine:
            self.chain.load_state_dict(mine, strict)
        return super().load_state_dict(state_dict, strict, assign)

    def uncounted_flop(self, what: str, n: int) -> int:
        """The chain's look-ups, where one is mixed in (the network's work is counted)."""
        return self.chain.lookups(what, n) if self.mixed else 0

    # -- training -------------------------------------------------------------
    def shifted(self, windows: torch.Tensor) -> torch.Tensor:
        """[BOS, x_1 .. x_{T-1}] for windows (B, T) of codes."""
        bos = torch.full_like(windows[:, :1], self.bos)
        return torch.cat([bos, windows[:, :-1]], dim=1).long()

    def loss(self, windows: torch.Tensor) -> torch.Tensor:
        logits = self.net(self.shifted(windows))
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
            shift = torch.randint(0, T, (len(starts),), generator=generator, device=generator.device).to(starts.device)
            starts = (starts + shift).clamp(max=n - T)
            return (text[starts.unsqueeze(1) + steps],)

        T_val = min(T, len(val))
        val_windows = val.long()[: len(val) // T_val * T_val].view(-1, T_val)
        return offsets, val_windows, windows

    # -- likelihood -------------------------------------------------------------
    @torch.no_grad()
    def next_log_probs(self, context: torch.Tensor) -> torch.Tensor:
        """The stream [BOS, the row's symbols] in one window: equal to ``log_prob_stream``'s term
        wherever that stream is no longer than this row."""
        context = context.to(self.device)
        out = torch.empty(len(context), self.n_levels, dtype=torch.float64, device=self.device)
        valid = (context >= 0).sum(1)
        for k in valid.unique().tolist():  # rows with the same number of symbols (-1: none) together
            rows = (valid == k).nonzero().squeeze(1)
            tokens = torch.cat([torch.full((len(rows), 1), self.bos, device=self.device), context[rows][:, context.shape[1] - k :]], 1)
            out[rows] = self.net(tokens.long())[:, -1].double().log_softmax(-1)
        if self.mixed:
            out = self.mix(out, self.chain.next_log_probs(context[:, context.shape[1] - self.params.ngram :]))
        return out

    def begin(self, n: int, before: torch.Tensor):
        """A stream of ``n`` rows: BOS, then ``before`` (its last ``history`` symbols). Returns the
        logits of the symbol after it (n, n_levels) and the state that continues it."""
        shown = before[len(before) - min(len(before), self.history) :].long().to(self.device)
        tokens = torch.cat([torch.full((1,), self.bos, device=self.device), shown]).expand(n, -1)
        state = None
        for a in range(0, tokens.shape[1], self.params.context):
            logits, state = self.net.stream(tokens[:, a : a + self.params.context], state)
        return logits[:, -1], state

    @torch.no_grad()
    def log_prob_stream(self, x: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """One stream, BOS then the last ``history`` symbols before ``x`` then ``x``, scored a window
        at a time and never restarted: each symbol sees what it would see while sampling (the
        chain, where one is mixed in, the symbols before it in the same stream)."""
        net = self.net_log_prob_stream(x, history)
        return self.mix(net, self.chain.log_prob_stream(x, history)) if self.mixed else net

    @torch.no_grad()
    def net_log_prob_stream(self, x: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """``log_prob_stream`` of the network alone."""
        T = self.params.context
        x = x.long().to(self.device)
        logits, state = self.begin(1, history)
        first = logits.double().log_softmax(-1)[0, x[0]] if len(x) else None
        out = [first.view(1)] if len(x) else []
        for a in range(0, len(x) - 1, T):
            chunk = x[a : min(a + T, len(x) - 1)]
            logits, state = self.net.stream(chunk.unsqueeze(0), state)
            target = x[a + 1 : a + 1 + len(chunk)]
            out.append(logits[0].double().log_softmax(-1).gather(1, target.unsqueeze(1)).squeeze(1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=self.device)

    # -- sampling ---------------------------------------------------------------
    @torch.no_grad()
    def sample_stream(self, n, length, generator, temperature: float = 1.0, prompt: torch.Tensor | None = None):
        """One stream per sample, as ``log_prob_stream`` scores it: BOS and the prompt's last
        ``history`` symbols in one pass, then a symbol at a time on the key-value ring (Transformer)
        or the recurrent state (GRU)."""
        prompt = prompt if prompt is not None else torch.zeros(0, dtype=torch.long)
        if self.device.type == "cpu" and n > self.DECODE_ROWS:  # rows in groups, so that their rings fit in memory
            return torch.cat([self.sample_stream(min(self.DECODE_ROWS, n - i), length, generator, temperature, prompt)
                              for i in range(0, n, self.DECODE_ROWS)])
        logits, state = self.begin(n, prompt)
        out = torch.empty(n, length, dtype=torch.long, device=self.device)
        if self.mixed:  # the chain's context: the last `ngram` symbols of the stream, -1 before its start
            k = self.params.ngram
            shown = prompt[len(prompt) - min(len(prompt), k):].long().to(self.device)
            context = torch.cat([torch.full((k - len(shown),), -1, device=self.device), shown]).expand(n, -1)
        for t in range(length):
            if self.mixed:
                log_probs = self.mix(logits.double().log_softmax(-1), self.chain.next_log_probs(context))
                out[:, t] = draw(log_probs, generator, temperature)
                context = torch.cat([context[:, 1:], out[:, t : t + 1]], 1)
            else:
                out[:, t] = draw(logits.float().log_softmax(-1), generator, temperature)
            if t < length - 1:
                logits, state = self.net.stream(out[:, t : t + 1], state)
                logits = logits[:, -1]
        return out


def mixing_weight(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-10, most: int = 10_000) -> float:
    """The w in [0, 1] that maximises sum log(w e^a + (1 - w) e^b) over the symbols (log-probabilities
    a, b of two models): EM, whose every step raises that concave sum, from w = 1/2."""
    d = (b.double() - a.double()).clamp(-700, 700)  # p_b / p_a = e^d
    w = 0.5
    for _ in range(most):
        new = (w / (w + (1 - w) * d.exp())).mean().item()  # the mean responsibility of the first model
        if abs(new - w) < tol:
            return new
        w = new
    return w


def check_heads(params) -> None:
    if params.arch == "transformer" and params.width % params.heads:
        raise GenlabError(f"ar.heads: {params.heads} does not divide ar.width {params.width}")
    if params.arch == "transformer" and (params.width // params.heads) % 2:
        raise GenlabError(f"ar.heads: width / heads = {params.width // params.heads} is odd; rotary positions turn channels in pairs")


class MusicAR(AdamWClipped, MusicModel):
    """Music: the Transformer or GRU over frames, a softmax over training chords with the Bernoulli escape."""

    Params = AutoRegressive.Params
    IGNORE = -100

    def __init__(self, params: "AutoRegressive.Params", shape, n_levels, n_chords: int = 0):
        super().__init__(params, shape, n_levels, n_chords)
        check_heads(params)
        if params.ngram:
            raise GenlabError("ar.ngram: a chain is mixed in for text only; set it to 0 for music")
        V = self.n_chords
        self.unseen, self.begin, self.resume = V, V + 1, V + 2  # input symbols besides the chords
        self.by_keys = params.output != "chords"  # whole frames scored by a head over the keys
        # the net's output: chord logits (chords), the keys head's condition (keys), or both side by side
        self.split = {"chords": [V], "keys": [params.width], "both": [V, params.width]}[params.output]
        self.net = NETS[params.arch](sum(self.split), params, n_inputs=V + 3)
        if self.by_keys:
            self.frame = FrameHead(self.keys, params.width, params.width)
        self.key_map = nn.Linear(self.keys, params.width, bias=False)
        self.escape = ChordEscape(V, self.keys)
        with torch.no_grad():  # never seen in training: its keys (key_map) say what it is
            self.net.tok.weight[self.unseen].zero_()

    # -- windows of frames ------------------------------------------------------------------
    def windows(self, x, codes, first, at, valid, scored=None):
        """Network inputs and targets of windows (B, T): window b covers frames at[b] .. at[b] + valid[b] - 1
        (global indices), ``first[b]``: it starts its piece; targets before position ``scored[b]``
        are left out (history only). Returns (symbols, keys, targets): targets the frames' chords
        (``IGNORE`` where not scored or no training chord); with a keys head (``keys``, ``both``),
        (symbols, keys, frames, their chord codes, scored) instead, every scored frame kept."""
        T = self.params.context
        i = torch.arange(T, device=x.device)
        g = (at.unsqueeze(1) + i).clamp(max=len(x) - 1)
        inside = i < valid.unsqueeze(1)
        if scored is not None:
            inside &= i >= scored.unsqueeze(1)
        prev = (g - 1).clamp(min=0)
        lead = torch.where(first, self.begin, self.resume).unsqueeze(1)
        symbols = torch.where(i >= 1, codes[prev], lead)
        keys = x[prev] * (i >= 1).unsqueeze(1).to(x.dtype)
        if self.by_keys:
            return symbols, keys, x[g], codes[g], inside
        target = torch.where(inside, codes[g], self.IGNORE)
        target = torch.where(target == self.unseen, self.IGNORE, target)
        return symbols, keys, target

    def logits(self, symbols, keys) -> torch.Tensor:
        return self.net(symbols, extra=self.key_map(keys.float()))

    def stream(self, symbols, keys, state=None):
        return self.net.stream(symbols, state, extra=self.key_map(keys.float()))

    def frame_log_prob(self, out: torch.Tensor, frames: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """log p (float64) of ``frames`` (..., K) with chord codes ``codes`` (..., ``unseen`` for
        none) given the net's output (..., sum(split)): the keys head's; ``output: both``, the
        escape's mixture (1 - e) P(chord | before) + e p_keys(frame | before), the escape mass e
        the share of validation frames that are no training chord, as for ``chords``, and the
        keys head in place of the independent per-key Bernoulli."""
        if self.params.output == "keys":
            return self.frame.log_prob(out.float(), frames)
        chord_logits, cond = out.float().split(self.split, dim=-1)
        e = self.escape.escape
        by_keys = e.log() + self.frame.log_prob(cond, frames)
        by_chord = torch.log1p(-e) + chord_logits.double().log_softmax(-1).gather(
            -1, codes.clamp(max=self.n_chords - 1).unsqueeze(-1)).squeeze(-1)
        return torch.where(codes == self.unseen, by_keys, torch.logaddexp(by_chord, by_keys))

    def draw_frames(self, out: torch.Tensor, generator: torch.Generator, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (n, K) uint8 and their codes drawn from the net's output (n, sum(split)), as
        ``frame_log_prob`` scores them (at temperature 1)."""
        escape = self.escape
        if self.params.output == "chords":
            return escape.draw(out.double().log_softmax(-1), generator, temperature)
        if self.params.output == "keys":
            frames = self.frame.sample(out.float(), generator, temperature)
            return frames, escape.codes_of(frames)
        chord_logits, cond = out.float().split(self.split, dim=-1)
        u = torch.rand(len(out), generator=generator, device=generator.device, dtype=torch.float64).to(out.device)
        frames = escape.chords[draw(chord_logits.double().log_softmax(-1), generator, temperature)]
        escaped = (u < escape.escape).nonzero().squeeze(1)  # only these rows run the keys head's 88 steps
        if len(escaped):
            frames[escaped] = self.frame.sample(cond[escaped], generator, temperature)
        return frames, escape.codes_of(frames)

    def window_nll(self, symbols, keys, *target, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed nats of the windows' scored frames (their chords; with a keys head, the whole
        frames) and how many frames were scored."""
        out = self.logits(symbols, keys)
        if self.by_keys:
            frames, codes, scored = target
            return -(self.frame_log_prob(out, frames, codes) * scored).sum().to(dtype), scored.sum()
        (target,) = target
        total = F.cross_entropy(out.reshape(-1, self.n_chords).to(dtype), target.reshape(-1), ignore_index=self.IGNORE, reduction="sum")
        return total, (target != self.IGNORE).sum()

    def loss(self, symbols, keys, *target) -> torch.Tensor:
        if self.params.output == "both":  # each head learns its own part: every training frame is a training chord
            frames, codes, scored = target
            chord_logits, cond = self.logits(symbols, keys).float().split(self.split, dim=-1)
            chords = torch.where(scored & (codes != self.unseen), codes, self.IGNORE)
            count = scored.sum().clamp(min=1)
            by_chord = F.cross_entropy(chord_logits.reshape(-1, self.n_chords), chords.reshape(-1), ignore_index=self.IGNORE, reduction="sum")
            by_keys = -(self.frame.log_prob(cond, frames) * scored).sum().float()
            return by_chord / (chords != self.IGNORE).sum().clamp(min=1) + by_keys / count
        total, count = self.window_nll(symbols, keys, *target)
        return total / count.clamp(min=1)

    def training_batches(self, train: tuple, val: tuple):
        T = self.params.context
        self.escape.fit(train[0].cpu(), train[1].cpu(), val[1].cpu())  # the escape mass, from the validation pieces
        x, codes, lengths = (t.to(self.device) for t in train)
        starts, n = piece_starts(lengths.cpu().numpy()), lengths.cpu().numpy()
        # window grids that tile each piece, moved left by a fresh shift every epoch: the first
        # window of a piece always starts at its opening, as every piece is scored
        base = [(s, o, m) for s, m in zip(starts.tolist(), n.tolist()) for o in (range(0, m + T - 1, T) if m > T else (0,))]
        piece_start = torch.tensor([b[0] for b in base], device=self.device)
        offset = torch.tensor([b[1] for b in base], device=self.device)
        length = torch.tensor([b[2] for b in base], device=self.device)

        def cut(batch: tuple, generator: torch.Generator) -> tuple:
            (w,) = batch  # fresh random offsets every epoch: window boundaries move
            shift = torch.randint(0, T, (len(w),), generator=generator, device=generator.device).to(w.device)
            a = torch.minimum((offset[w] - shift).clamp(min=0), (length[w] - T).clamp(min=0))
            return self.windows(x, codes, a == 0, piece_start[w] + a, (length[w] - a).clamp(max=T))

        vx, vcodes, vlengths = (t.to(self.device) for t in val)
        return (torch.arange(len(base)),), self.scoring_windows(vx, vcodes, vlengths), cut

    def spans(self, lengths) -> list[tuple[int, int, int, int]]:
        """How every frame is scored once: windows (piece start, window start, first frame scored,
        end), frames relative to the piece; the first window of a piece from its opening, later
        ones with at least half a window of the frames before them."""
        T, half = self.params.context, self.params.context // 2
        out = []
        for s, n in zip(piece_starts(lengths.cpu().numpy()).tolist(), lengths.tolist()):
            p = 0
            while p < n:
                a = max(0, p - half) if p else 0
                out.append((s, a, p, min(a + T, n)))
                p = out[-1][3]
        return out

    def scoring_windows(self, x, codes, lengths) -> tuple[torch.Tensor, ...]:
        """The ``windows`` that ``spans`` scores with, the history-only targets left out."""
        spans = self.spans(lengths)
        dev = x.device
        at = torch.tensor([s + a for s, a, _, _ in spans], device=dev)
        first = torch.tensor([a == 0 for _, a, _, _ in spans], device=dev)
        valid = torch.tensor([q - a for _, a, _, q in spans], device=dev)
        scored = torch.tensor([p - a for _, a, p, _ in spans], device=dev)
        return self.windows(x, codes.long(), first, at, valid, scored)

    @torch.no_grad()
    def validation_score(self, val: tuple, epoch: int) -> float:
        """Nats per scored validation frame of its chord (the escape's part is fixed; ``output:
        keys``: of the whole frame), every frame scored once as the test pieces are."""
        self.eval()
        total, count = None, None  # on the device, read once
        for i in range(0, len(val[0]), 4 * self.params.batch_size):
            s, c = self.window_nll(*(t[i : i + 4 * self.params.batch_size] for t in val), dtype=torch.float64)
            total, count = (s, c) if total is None else (total + s, count + c)
        return total.item() / max(int(count), 1)

    def finish_fit(self, train: tuple, val: tuple) -> dict:
        if self.by_keys:
            return {"chords": self.n_chords, "train_dtype": self.dtype_name()}
        return {"chords": self.n_chords, "escape": float(self.escape.escape), "train_dtype": self.dtype_name()}

    # -- likelihood -------------------------------------------------------------------------
    @torch.no_grad()
    def frame_log_probs(self, x, codes, lengths, batch: int = 64) -> torch.Tensor:
        """Every frame scored once (``spans``): the first window of a piece from its opening, later
        ones with at least half a window of the frames before them."""
        x, codes = x.to(self.device), codes.long().to(self.device)
        spans = self.spans(lengths)
        symbols, keys, *target = self.scoring_windows(x, codes, lengths)
        out = torch.zeros(len(x), dtype=torch.float64, device=self.device)  # keys heads: the frame; chords: its chord
        for i in range(0, len(spans), batch):
            net_out = self.logits(symbols[i : i + batch], keys[i : i + batch])
            if self.by_keys:  # the whole frame, key by key: exact, no escape
                logp = self.frame_log_prob(net_out, *(t[i : i + batch] for t in target[:2]))
            else:  # IGNORE (unseen frames, history) read chord 0: the escape's mix ignores it
                chords = target[0][i : i + batch].clamp(min=0).unsqueeze(-1)
                logp = net_out.double().log_softmax(-1).gather(-1, chords).squeeze(-1)
            for j, (s, a, p, q) in enumerate(spans[i : i + batch]):
                out[s + p : s + q] = logp[j, p - a : q - a]
        return (out if self.by_keys else self.escape.mix(out, x, codes)).cpu()

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample_pieces(self, n, length, generator, temperature: float = 1.0, primer=None) -> torch.Tensor:
        """Frame by frame, keeping the key-value cache (Transformer) or recurrent state (GRU) within
        a window; a full window starts the next from its last half, as the likelihood is scored.
        With ``primer`` (F, K) frames, the first window holds them (a primer longer than a window:
        its last half window, as a later window of a piece would)."""
        T, half, dev = self.params.context, self.params.context // 2, self.device
        pf = torch.zeros(0, self.keys, dtype=torch.uint8, device=dev) if primer is None else torch.as_tensor(primer).to(dev, torch.uint8)
        lead = self.begin if len(pf) <= T - 1 else self.resume
        pf = pf if len(pf) <= T - 1 else pf[len(pf) - half :]
        p = len(pf)
        frames_so_far = torch.empty(n, p + length, self.keys, dtype=torch.uint8, device=dev)
        codes_so_far = torch.empty(n, p + length, dtype=torch.long, device=dev)
        frames_so_far[:, :p] = pf
        codes_so_far[:, :p] = self.escape.to(dev).codes_of(pf)
        symbols = torch.cat([torch.full((n, 1), lead, dtype=torch.long, device=dev), codes_so_far[:, :p]], 1)
        keys = torch.cat([torch.zeros(n, 1, self.keys, dtype=torch.uint8, device=dev), frames_so_far[:, :p]], 1)
        logits, state = self.stream(symbols, keys)
        filled = 1 + p
        self.escape.to(dev)
        for t in range(length):
            frames, codes = self.draw_frames(logits[:, -1], generator, temperature)
            j = p + t
            frames_so_far[:, j], codes_so_far[:, j] = frames, codes
            if t == length - 1:
                break
            if filled == T:  # the window is full: the next one starts from its last half
                k = min(half, j + 1)
                symbols = torch.cat([torch.full((n, 1), self.resume, dtype=torch.long, device=dev), codes_so_far[:, j + 1 - k : j + 1]], 1)
                keys = torch.cat([torch.zeros(n, 1, self.keys, dtype=torch.uint8, device=dev), frames_so_far[:, j + 1 - k : j + 1]], 1)
                logits, state = self.stream(symbols, keys)
                filled = 1 + k
            else:
                logits, state = self.stream(codes.unsqueeze(1), frames.unsqueeze(1), state)
                filled += 1
        return frames_so_far[:, p:].cpu()


MODEL = (AutoRegressive, MusicAR)
