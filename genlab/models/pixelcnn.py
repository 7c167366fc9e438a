"""The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

p(x) = prod_i prod_c p(x_{i,c} | every pixel before i in raster order, channels < c of pixel i):
an exact likelihood, each factor a distribution over exactly the data's levels from
``genlab.nn.observations`` (the VAE's rule: Bernoulli for 2 levels, a categorical up to 16,
a discretised logistic mixture from 17 up; ``likelihood`` overrides it).

The network has two stacks, so no blind spot: the vertical stack at row r sees the rows up to r
(a (k + 1) x (2k + 1) convolution, k = ``kernel_radius``, zero-padded above and at the sides),
and reaches the horizontal stack shifted down one row, so pixel (r, j) receives the rows above it,
above-right included; the horizontal stack sees the row itself up to the current column (a
1 x (k + 1) convolution, padded on the left). Every layer is gated, tanh(a) * sigmoid(b), and the
horizontal stack is residual. Colour channels are ordered within a pixel (R, G, B) by channel
groups, as in the PixelCNN paper: the features of the horizontal stack are split into C groups,
group c belongs to channel c, and only the horizontal stack's tap on the current pixel and its 1x1
convolutions are masked (group c sees input channels < c in the first layer, groups <= c after
it). Nothing reaches the vertical stack's output for row r before the shift, so it needs no
channel mask.

Sampling runs in raster order, pixel by pixel and channel by channel, and caches what it can
(Ramachandran et al. 2017 in spirit): the vertical stack runs once per row on the rows within its
receptive field, and each pixel then reruns only the horizontal stack on the columns of its own row
that it can see.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genlab.config.schema import GradientParams
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, nll_summary
from genlab.nn import observations


def _groups(n: int, channels: int) -> torch.Tensor:
    """The channel group (0..channels-1) of each of n features: contiguous, as even as n allows."""
    return torch.arange(n) * channels // n


def _gate(pre: torch.Tensor) -> torch.Tensor:
    a, b = pre.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _MaskedConv(nn.Conv2d):
    """A convolution whose weight is multiplied by a fixed 0/1 mask (a buffer) in every forward."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], mask: torch.Tensor):
        super().__init__(cin, cout, kernel)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias)


def _channel_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, strict: bool) -> torch.Tensor:
    """(cout, cin): 1 where an output of group g may see an input of group h: h < g (strict, mask A)
    or h <= g (mask B). An input of group -1 (the constant channel) is seen by every output."""
    o, i = out_groups[:, None], in_groups[None, :]
    allowed = (i < o) if strict else (i <= o)
    return (allowed | (i < 0)).float()


class _GatedLayer(nn.Module):
    """One gated layer: vertical stack, its link into the horizontal stack, horizontal stack."""

    def __init__(self, cin: int, width: int, radius: int, channels: int, in_groups: torch.Tensor,
                 first: bool, dropout: float):
        super().__init__()
        self.k2, self.first = radius, first
        self.v_conv = nn.Conv2d(cin, 2 * width, (radius + 1, 2 * radius + 1))
        self.v_to_h = nn.Conv2d(2 * width, 2 * width, 1)
        gate_groups = _groups(width, channels).repeat(2)  # tanh half and sigmoid half alike
        # the horizontal conv: every tap before the current column sees everything, the current one by group
        mask = torch.ones(2 * width, cin, 1, self.k2 + 1)
        mask[:, :, 0, -1] = _channel_mask(gate_groups, in_groups, strict=first)
        self.h_conv = _MaskedConv(cin, 2 * width, (1, self.k2 + 1), mask)
        out_groups = _groups(width, channels)
        self.h_out = _MaskedConv(width, width, (1, 1),
                                 _channel_mask(out_groups, out_groups, strict=False)[:, :, None, None])
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def vertical(self, v: torch.Tensor, bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(the vertical stack's next features, its pre-activation) for rows r0..r of v; ``bias`` (B, 2 width):
        a class-conditional model's class, added everywhere."""
        pre = self.v_conv(F.pad(v, (self.k2, self.k2, self.k2, 0)))
        if bias is not None:
            pre = pre + bias[:, :, None, None]
        return _gate(pre), pre

    def link(self, pre_above: torch.Tensor) -> torch.Tensor:
        """What the horizontal stack at row r receives from the vertical stack's pre-activation at r - 1."""
        return self.v_to_h(pre_above)

    def horizontal(self, h: torch.Tensor, link: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        pre = self.h_conv(F.pad(h, (self.k2, 0, 0, 0))) + link
        g = _gate(pre if bias is None else pre + bias[:, :, None, None])
        out = self.h_out(self.dropout(g))
        return out if self.first else h + out


class PixelCNN(GenerativeModel):
    modalities = ("images",)

    class Params(GradientParams):
        # Defaults chosen on the digits' validation split (see docs/models.md).
        lr: float = Field(1e-3, gt=0, description="Adam learning rate")
        batch_size: int = Field(32, ge=1, description="training batch size")
        epochs: int = Field(40, ge=1, description="most epochs")
        patience: int = Field(10, ge=1, description="epochs without a better validation loss before stopping")
        lr_schedule: Literal["constant", "cosine"] = Field(
            "cosine", description="cosine: the lr falls along a half cosine to lr_final * lr over `epochs`"
        )
        max_steps: int | None = Field(
            None, ge=1, description="most optimisation steps in all; null: 1600 x sqrt(64 / D) for images of D values "
            "(1,600 on the 8x8 digits, where `epochs` stops first; 457 on 28x28; 231 on 32x32 colour): a deterministic "
            "budget that keeps larger images to minutes on 2 cores; raise it for a better model"
        )
        layers: int = Field(6, ge=1, le=64, description="gated layers (each adds `kernel_radius` rows and columns of context)")
        width: int = Field(64, ge=1, le=GradientParams.MAX_CONV_WIDTH,
                           description="feature maps of each stack (split into one group per colour channel)")
        kernel_radius: int = Field(1, ge=1, le=7, description="context each layer adds, r rows and columns: kernels "
                                   "(r + 1) x (2r + 1) in the vertical stack, 1 x (r + 1) in the horizontal one")
        dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the horizontal stack's gated features while training")
        likelihood: Literal["auto", "categorical", "discretized_logistic"] = Field(
            "auto",
            description="p(pixel | the pixels before it): `auto` (Bernoulli for 2 levels, categorical up to "
            f"{observations.AUTO_LOGISTIC_ABOVE} levels, a discretised logistic mixture above), "
            "`categorical` or `discretized_logistic`",
        )
        logistic_components: int = Field(
            5, ge=1, le=GradientParams.MAX_COMPONENTS, description="mixture components per value of the discretised logistic likelihood"
        )
        conditional: bool = Field(
            False, description="labelled images: a model of p(x | class), a learnt bias per class on every gated layer of "
            "both stacks (the paper's conditional PixelCNN); samples are drawn for the class asked for (unconditional ones "
            "with classes drawn from their training frequencies), `nll` is of p(x) = sum_y p(y) p(x|y), exact"
        )

    def __init__(self, params: "PixelCNN.Params", shape, n_levels, n_classes: int = 0):
        super().__init__(params, shape, n_levels)
        p = params
        self.n_classes = int(n_classes) if p.conditional else 0
        if self.n_levels < 2 or len(self.shape) != 3:
            raise GenlabError(f"pixelcnn: models images of discrete levels (got shape {list(self.shape)}, {self.n_levels} levels)")
        C = self.shape[0]
        if p.width < C:
            raise GenlabError(f"pixelcnn.width: {p.width} feature maps cannot be split into one group per channel "
                              f"of {C}-channel images; give at least {C}")
        self.obs = observations.choose(self.n_levels, self.dim, p.likelihood, p.logistic_components)
        K = self.obs.per_value
        in_groups = torch.cat([torch.arange(C), torch.tensor([-1])])  # the image's channels, then a constant 1
        feat_groups = _groups(p.width, C)
        self.layers = nn.ModuleList()
        for i in range(p.layers):
            first = i == 0
            self.layers.append(_GatedLayer(C + 1 if first else p.width, p.width, p.kernel_radius, C,
                                           in_groups if first else feat_groups, first, p.dropout))
        out_groups = torch.arange(C).repeat_interleave(K)  # output c*K + k: parameter k of channel c
        self.head1 = _MaskedConv(p.width, p.width, (1, 1), _channel_mask(feat_groups, feat_groups, False)[:, :, None, None])
        self.head2 = _MaskedConv(p.width, C * K, (1, 1), _channel_mask(out_groups, feat_groups, False)[:, :, None, None])
        if self.n_classes:  # a bias per class and layer on both stacks' pre-activations, from zero
            self.class_v = nn.ModuleList(nn.Embedding(self.n_classes, 2 * p.width) for _ in range(p.layers))
            self.class_h = nn.ModuleList(nn.Embedding(self.n_classes, 2 * p.width) for _ in range(p.layers))
            for e in [*self.class_v, *self.class_h]:
                nn.init.zeros_(e.weight)
            self.add_class_prior()
        self.v_reach = p.layers * p.kernel_radius  # rows above that the vertical stack's last row sees
        self.h_reach = p.layers * p.kernel_radius  # columns to the left that the horizontal stack sees

    # -- the network ------------------------------------------------------------
    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Levels scaled to [-1, 1], and a channel of ones (so that the zero padding marks the border)."""
        dtype = self.head2.weight.dtype
        scaled = x.to(dtype) * (2.0 / (self.n_levels - 1)) - 1
        return torch.cat([scaled, torch.ones_like(scaled[:, :1])], dim=1)

    def _class_bias(self, which: str, y: torch.Tensor | None) -> list:
        """Per layer, a class-conditional model's bias for the classes ``y`` (``which``: "v" or "h"), else Nones."""
        if not self.n_classes:
            return [None] * len(self.layers)
        if y is None:
            raise GenlabError("pixelcnn: a class-conditional model needs the labels")
        return [e(y.to(self.device).long()) for e in (self.class_v if which == "v" else self.class_h)]

    def _links(self, inp: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Per layer, what the horizontal stack receives at every row of ``inp`` (rows r0..r): the
        vertical stack's pre-activation one row up (zeros above the first row), through the link."""
        links, v = [], inp
        for layer, bias in zip(self.layers, self._class_bias("v", y)):
            v, pre = layer.vertical(v, bias)
            links.append(layer.link(F.pad(pre, (0, 0, 1, 0))[:, :, :-1]))
        return links

    def _horizontal(self, inp: torch.Tensor, links: list[torch.Tensor], y: torch.Tensor | None = None) -> torch.Tensor:
        """The output parameters (B, C*K, rows, cols) from the input and the links over the same region."""
        h = inp
        for layer, link, bias in zip(self.layers, links, self._class_bias("h", y)):
            h = layer.horizontal(h, link, bias)
        return self.head2(F.relu(self.head1(F.relu(h))))

    def _as_values(self, out: torch.Tensor) -> torch.Tensor:
        """(B, C*K, H, W) -> (B, D, K), D in the order of x.flatten(1) (channel, row, column)."""
        B, _, H, W = out.shape
        C, K = self.shape[0], self.obs.per_value
        return out.view(B, C, K, H, W).permute(0, 1, 3, 4, 2).reshape(B, C * H * W, K)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Every pixel's observation parameters given the pixels before it (and a class-conditional
        model's classes ``y``): (B, D, K)."""
        inp = self._inputs(x)
        return self._as_values(self._horizontal(inp, self._links(inp, y), y))

    # -- training and likelihood -----------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The exact negative log-likelihood, mean per image, nats (of x given y, class-conditional)."""
        return -self.obs.log_prob(self(x, y), x.flatten(1)).mean()

    @torch.no_grad()
    def step_cap(self) -> int:
        """``max_steps``, or 1600 x sqrt(64 / D) where it is null (see its description)."""
        if self.params.max_steps is not None:
            return self.params.max_steps
        return round(1600 * math.sqrt(64 / self.dim))

    def log_prob(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Exact log p(x) per image (float64 nats): the network in its own dtype, every conditional
        normalised over the levels and summed in float64; a class-conditional model's
        log sum_y p(y) p(x | y)."""
        if self.n_classes:
            by_class = torch.stack([self.log_prob_given(x, torch.full((len(x),), c)) for c in range(self.n_classes)], 1)
            return torch.logsumexp(by_class + self.log_class_prior.to(by_class.device), 1)
        return self.log_prob_given(x, None, batch_size)

    def log_prob_given(self, x: torch.Tensor, y: torch.Tensor | None, batch_size: int = 256) -> torch.Tensor:
        """Exact log p(x | y) per image, float64 (y None: an unconditional model's log p(x))."""
        out = []
        for i, batch in enumerate(x.split(batch_size)):
            batch = batch.to(self.device)
            labels = None if y is None else y[i * batch_size : (i + 1) * batch_size]
            out.append(self.obs.log_prob(self(batch, labels).double(), batch.flatten(1)))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    @torch.no_grad()
    def class_likelihood_metrics(self, x, y, params, generator) -> dict:
        nll = -self.log_prob_given(x, y)
        summary = nll_summary(nll, self.dim)
        return {"nll_given_class": summary["nll"], "nll_given_class_stderr": summary["nll_stderr"]}

    # -- sampling -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None, batch_size: int = 1024,
               labels=None) -> torch.Tensor:
        """Raster order, channel by channel: per row the vertical stack once, per value the horizontal
        stack on the columns it sees. Every draw comes from ``generator``. A class-conditional model
        draws the classes ``labels``, or classes from the training frequencies first."""
        if self.n_classes and labels is None:
            labels = self.draw_classes(n, generator)
        labels = None if labels is None else torch.as_tensor(labels).to(self.device).long()
        parts = [self._sample(min(batch_size, n - s), generator, y=None if labels is None else labels[s : s + batch_size])
                 for s in range(0, n, batch_size)]
        return torch.cat(parts) if parts else torch.zeros((0, *self.shape), dtype=torch.uint8, device=self.device)

    def _sample(self, n: int, generator: torch.Generator, start: torch.Tensor | None = None, from_row: int = 0,
                y: torch.Tensor | None = None) -> torch.Tensor:
        """n images drawn in raster order; with ``start``, its rows above ``from_row`` are kept and the rest drawn."""
        C, H, W = self.shape
        K = self.obs.per_value
        x = torch.zeros((n, C, H, W), dtype=torch.uint8, device=self.device) if start is None else start.to(self.device, torch.uint8).clone()
        for r in range(from_row, H):
            r0 = max(0, r - 1 - self.v_reach)  # the rows the link into row r depends on: r0..r-1 (and row r, unused)
            inp = self._inputs(x[:, :, r0 : r + 1])
            links = [link[:, :, -1:] for link in self._links(inp, y)]  # row r's links: rows above only
            for j in range(W):
                c0 = max(0, j - self.h_reach)
                for c in range(C):
                    row = self._inputs(x[:, :, r : r + 1, c0 : j + 1])
                    out = self._horizontal(row, [link[..., c0 : j + 1] for link in links], y)
                    params = out[:, c * K : (c + 1) * K, 0, -1]  # (n, K)
                    x[:, c, r, j] = self.obs.sample(params.unsqueeze(1), generator)[:, 0]
        return x

    # -- completion ---------------------------------------------------------------
    def _first_hidden_row(self, hidden: torch.Tensor) -> int | None:
        """r when ``hidden`` is every value of rows r and below, in every image (the `bottom` half): the
        hidden values then come after every visible one in the model's order. Else None."""
        C, H, W = self.shape
        rows = hidden.view(len(hidden), C, H, W)
        r = H - int(rows[0, 0, :, 0].sum()) if len(rows) else H
        expected = torch.zeros(C, H, W, dtype=torch.bool, device=rows.device)
        expected[:, r:] = True
        return r if bool((rows == expected).all()) else None

    def completion_log_prob(self, x, hidden, k=0, generator=None, batch_size=256, steps=0):
        """Exact where the hidden part follows every visible value in raster order (``bottom``): the
        sum of the hidden values' own conditionals, one network pass. Else None (and for a
        class-conditional model: the class would be summed over too; not built)."""
        if self.n_classes or self._first_hidden_row(hidden) is None:
            return None
        out = []
        for batch, h in zip(x.split(batch_size), hidden.split(batch_size)):
            batch, h = batch.to(self.device), h.to(self.device)
            terms = self.obs.log_prob_values(self(batch).double(), batch.flatten(1))
            out.append(terms.masked_fill(~h, 0).sum(-1))
        return torch.cat(out), "exact"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps=0, batch_size: int = 1024):
        """Exact where the hidden part follows every visible value (``bottom``): sampling goes on from
        the first hidden row. Else None (a class-conditional model: not built)."""
        r = None if self.n_classes else self._first_hidden_row(hidden)
        if r is None:
            return None
        return torch.cat([self._sample(len(b), generator, start=b, from_row=r) for b in x.split(batch_size)])


MODEL = PixelCNN
