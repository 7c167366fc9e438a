"""`make bench-levers`: what each speed lever of the text `ar` gives on this machine, each measured
against its reference in the same process (ratios, not absolute times, are the result).

Training: a 2048² matrix product and one training step of the text benchmark's Transformer
(4 x 256, windows of 128, 32 a step) in float32 and under bf16 autocast, with and without
dropout, with the attention span as a mask and without; a dropout mask drawn by torch's
``F.dropout`` (``bernoulli_``) and by genlab's (16-bit pieces of 64-bit draws). Sampling: one
decoding step's attention over a full key-value ring through the fused kernel and through plain
products, and 1,000 x 500 characters decoded in groups of ``AutoRegressive.DECODE_ROWS`` and of
256, at spans 128 and 64. Model sizes, against the two halves of the
text bar (an hour of training, 30 s of sampling): a training step as the benchmark takes it and
1,000 x 500 characters of float32 sampling, for a few sizes beside the benchmark's. Writes
bench/text/levers-<kind>.md, one record per kind of CPU (``genlab.runtime.cpu_bf16``: how it
multiplies bf16), so that each kind's stays.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.results import write_results
from genlab import cli
from genlab.models.ar import AutoRegressive
from genlab.nn.sequence import dropout
from genlab.report.markdown import md_table
from genlab.runtime import cpu_bf16

HERE = Path(__file__).resolve().parent / "text"
BENCH = dict(context=128, layers=4, width=256, heads=4)  # bench/text/params.yaml's ar
VOCAB = 66
DROPOUT = 0.2  # bench/text/params.yaml's ar.dropout


def timed(fn, repeat: int) -> float:
    """Seconds per call of ``fn`` after one warm-up call: the best of three means of ``repeat`` calls."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def matmul() -> list[list[str]]:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        s = timed(lambda: x @ y, 5)
        rows.append([f"2048² product, {str(dtype).removeprefix('torch.')}", f"{2 * 2048**3 / s / 1e9:,.0f} GFLOP/s"])
    return rows


def step_time(params: AutoRegressive.Params, windows: torch.Tensor) -> tuple[AutoRegressive, float]:
    """A model of ``params`` (seed 0) and the seconds of one of its training steps on ``windows``."""
    torch.manual_seed(0)
    m = AutoRegressive(params, (), VOCAB)
    opts = m.make_optimizers()
    return m, timed(lambda: m.train_step((windows,), opts), 3)


def training_steps() -> list[list[str]]:
    rows, windows = [], torch.randint(0, VOCAB - 1, (32, BENCH["context"]))
    for dtype in ("float32", "bfloat16"):
        for p in (0.0, DROPOUT):
            for span in (BENCH["context"], BENCH["context"] // 2):
                _, s = step_time(AutoRegressive.Params(**BENCH, dropout=p, span=span, train_dtype=dtype), windows)
                rows.append([f"training step, {dtype}, dropout {p:g}, span {span}",
                             f"{s * 1000:,.0f} ms ({windows.numel() / s:,.0f} characters/s)"])
    return rows


def masks() -> list[list[str]]:
    """One dropout mask applied to a training step's attention weights (32 x 4 x 128 x 128) and to
    its residual stream (32 x 128 x 256), in float32 and bf16: torch's against genlab's."""
    rows = []
    for shape in ((32, 4, 128, 128), (32, 128, 256)):
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(shape, dtype=dtype)
            name = f"{' x '.join(map(str, shape))}, {str(dtype).removeprefix('torch.')}"
            for label, drop in (("F.dropout", F.dropout), ("genlab", dropout)):
                rows.append([f"dropout {DROPOUT:g} of {name}, {label}", f"{timed(lambda: drop(x, DROPOUT, True), 10) * 1000:.2f} ms"])
    return rows


def attention() -> list[list[str]]:
    rows = []
    for B in (1000, 256):
        k, v, q = torch.randn(B, 4, 128, 64), torch.randn(B, 4, 128, 64), torch.randn(B, 4, 1, 64)
        fused = timed(lambda: F.scaled_dot_product_attention(q, k, v), 5)
        plain = timed(lambda: ((q @ k.transpose(-1, -2)) * 0.125).softmax(-1) @ v, 5)
        rows.append([f"one query over a ring of 128, {B} rows, fused kernel", f"{fused / B * 1e6:.2f} µs a row"])
        rows.append([f"one query over a ring of 128, {B} rows, plain products", f"{plain / B * 1e6:.2f} µs a row"])
    return rows


def sampling() -> list[list[str]]:
    rows = []
    for span in (128, 64):
        m = AutoRegressive(AutoRegressive.Params(**BENCH, span=span), (), VOCAB).eval()
        for group in (AutoRegressive.DECODE_ROWS, 256):
            m.DECODE_ROWS = group  # this instance only
            start = time.perf_counter()
            m.sample_stream(1000, 500, torch.Generator().manual_seed(0))
            s = time.perf_counter() - start
            rows.append([f"1,000 x 500 characters, span {span}, rows decoded together {group}", f"{s:.1f} s"])
    return rows


SIZES = [(4, 256), (4, 192), (3, 256), (3, 192)]  # (layers, width); the first is the benchmark's


def sizes() -> list[list[str]]:
    """Per size (span 64, dropout 0.2, 4 heads, as the benchmark): parameters, a training step as
    `make bench-text` takes it (``train_dtype: auto``), an epoch of 246 such steps, and 1,000 x 500
    characters of sampling in float32 (random weights, ``DECODE_ROWS`` as the stage decodes)."""
    rows, windows = [], torch.randint(0, VOCAB - 1, (32, BENCH["context"]))
    for layers, width in SIZES:
        p = AutoRegressive.Params(**{**BENCH, "layers": layers, "width": width}, dropout=DROPOUT, span=64, train_dtype="auto")
        m, step = step_time(p, windows)
        m.eval()
        start = time.perf_counter()
        m.sample_stream(1000, 500, torch.Generator().manual_seed(0))
        drawn = time.perf_counter() - start
        rows.append([f"{layers} x {width}", f"{sum(t.numel() for t in m.parameters()) / 1e6:.2f} M",
                     f"{step * 1000:,.0f} ms", f"{step * 246:,.0f} s", f"{drawn:.1f} s"])
    return rows


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    sections = []
    for title, part, head in [
        ("Matrix products", matmul, None), ("Training steps (the text benchmark's Transformer)", training_steps, None),
        ("Dropout masks", masks, None),
        ("Attention of one decoding step", attention, None), ("Sampling (random weights, the benchmark's size)", sampling, None),
        ("Model sizes (span 64, dropout 0.2; the first is the benchmark's)", sizes,
         ["layers x width", "parameters", "training step", "epoch (246 steps)", "1,000 x 500 characters sampled"]),
    ]:
        table = md_table(head or ["what", "measured"], part(), cell=str)
        print(f"## {title}\n{table}", flush=True)
        sections.append((title, table))
    kind = cpu_bf16()
    path = HERE / f"levers-{kind}.md"
    write_results(path, f"Text `ar`: what each speed lever gives on a CPU of kind `{kind}` (`make bench-levers`)",
                  "python -m bench.levers", sections, time.perf_counter() - start)
    print(f"results in {path}")


if __name__ == "__main__":
    cli.run(main, argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args())
