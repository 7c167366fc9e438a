"""What a stage imports before it works: torch, not the compiler, torchvision, torchmetrics or
scikit-learn unless it uses them (seconds of every stage's start; `dvc repro` runs dozens)."""

import subprocess
import sys

from helpers import ROOT

HEAVY = ["torch._dynamo", "torch._inductor", "torchvision", "torchmetrics", "sklearn"]

# A training stage of a counted model and a generate stage, short of the optimiser's step (which
# imports the compiler itself) and of the sample metrics (torchmetrics, scikit-learn: evaluate).
PROGRAM = """
import sys
import torch
import stages.train, stages.generate
from genlab import runtime
from genlab.data.images import image_grid
from genlab.metrics.cost import counting
from genlab.models import registry

runtime.setup("cpu", 0)
net = torch.nn.Linear(4, 3)
opt = torch.optim.AdamW(net.parameters(), fused=True)
opt.zero_grad()
opt.load_state_dict(opt.state_dict())
with counting() as c:
    net(torch.ones(5, 4))
image_grid(torch.zeros(3, 1, 8, 8), 17)
print(c.total, torch.are_deterministic_algorithms_enabled())
print(" ".join(m for m in {heavy} if m in sys.modules))
"""


def test_a_stage_starts_without_the_compiler_torchvision_torchmetrics_or_sklearn():
    proc = subprocess.run([sys.executable, "-c", PROGRAM.format(heavy=HEAVY)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    counted, imported = proc.stdout.splitlines()
    assert counted == f"{2 * 5 * 4 * 3} True"  # the counter counts, the kernels are deterministic
    assert imported == ""
