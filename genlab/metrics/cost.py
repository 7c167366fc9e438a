"""What a model costs, in figures that do not depend on the machine's speed.

FLOP are counted by PyTorch's own counter (``torch.utils.flop_counter.FlopCounterMode``): the
matrix products, convolutions and attention a computation runs, 2 per multiply-add, forward and
backward. It sees no element-wise work, gathers or table look-ups, so a model whose work is
mostly those (the closed-form baselines: counting, looking up, drawing) adds its own count of
those operations (``GenerativeModel.uncounted_flop``: one per value counted, looked up or
added, one per level a draw runs over). The counts are functions of the shapes alone, the same
on every machine and every rerun.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class Counted:
    total: int = 0


@contextlib.contextmanager
def counting() -> Iterator[Counted]:
    """Counts the FLOP of the block (``.total``, set when it ends)."""
    from torch.utils.flop_counter import FlopCounterMode

    out = Counted()
    mode = FlopCounterMode(display=False)
    with mode:
        yield out
    out.total = int(mode.get_total_flops())


def n_parameters(model: torch.nn.Module) -> int:
    """The values a model learnt: its trained parameters (weight averages such as EMA copies are
    not counted again); for a model fitted in closed form, every value of the tables it fitted
    (probabilities, and a Markov chain's n-gram keys and counts), also where such a model is part
    of one trained by gradient steps (the chain ``ar`` mixes in)."""
    if getattr(model, "trains_by_gradient", True):
        fitted = (m for m in model.children() if getattr(m, "trains_by_gradient", True) is False)
        return sum(p.numel() for p in model.parameters() if p.requires_grad) + sum(map(n_parameters, fitted))
    return sum(t.numel() for t in model.state_dict().values())


@dataclass
class TrainingCount:
    """The training loop's FLOP count: the first training step and the first validation it runs
    are counted, and every other step and validation is taken to cost the same per example (steps
    differ only in their batch's size; the models' work is linear in it)."""

    step_flop: int | None = None  # the counted step's FLOP ...
    step_examples: int = 0  # ... and its batch's size (this process's share)
    val_flop: int | None = None  # one counted validation (this process's share)
    examples: int = 0  # examples trained on, every process together
    validations: int = 0  # validations that measured a score
    processes: int = 1

    def step(self, run, n_examples: int):
        """``run()`` (one training step on ``n_examples``), counted if it is the first."""
        self.examples += n_examples * self.processes
        if self.step_flop is not None:
            return run()
        with counting() as c:
            out = run()
        self.step_flop, self.step_examples = c.total, n_examples
        return out

    def validation(self, run):
        """``run()`` (a validation; None where it measured nothing), counted until one measures."""
        if self.val_flop is not None:
            score = run()
        else:
            with counting() as c:
                score = run()
            if score is not None:
                self.val_flop = c.total
        self.validations += score is not None
        return score

    def total(self) -> int:
        steps = 0 if not self.step_examples else self.step_flop * self.examples // self.step_examples
        return steps + (self.val_flop or 0) * self.processes * self.validations

    def state(self) -> dict:
        return {"examples": self.examples, "validations": self.validations}

    def restore(self, state: dict) -> None:
        self.examples, self.validations = int(state["examples"]), int(state["validations"])
