"""What a model costs (genlab.metrics.cost): FLOP counted by PyTorch's counter, against hand counts."""

import torch

from genlab.config.schema import GradientParams
from genlab.metrics.cost import counting, n_parameters
from genlab.models import registry
from genlab.models.base import Trainable
from genlab.training.loop import fit_gradient


class Linear(Trainable):
    """loss = mean((x W^T)^2), W of 3 x 4, no bias: a product of 2 B 4 3 FLOP forward, as many backward
    (the gradient of W only: x needs none)."""

    def __init__(self, **params):
        super().__init__()
        self.params = GradientParams(**params)
        self.w = torch.nn.Linear(4, 3, bias=False)

    def loss(self, x):
        return self.w(x).pow(2).mean()


def test_a_matrix_product_is_two_flop_per_multiply_add():
    with counting() as c:
        torch.ones(5, 4) @ torch.ones(4, 3)
    assert c.total == 2 * 5 * 4 * 3


def test_training_flop_is_every_step_and_validation_at_the_counted_rate():
    """10 examples in batches of 4 (4, 4, 2) for 2 epochs: 20 examples at 48 FLOP each (forward
    and backward); 2 validations of the 6 validation rows at 24 FLOP each."""
    torch.manual_seed(0)
    model = Linear(epochs=2, patience=10, batch_size=4)
    result = fit_gradient(model, torch.randn(10, 4), torch.randn(6, 4), progress=False)
    assert (result.steps, result.flop) == (6, 20 * 48 + 2 * 6 * 24)


def test_closed_form_models_count_their_look_ups_and_draws():
    meta = {"kind": "images", "shape": [1, 2, 2], "n_levels": 3}
    model = registry.build("independent", registry.params_class("independent")(), meta)
    assert [model.uncounted_flop(w, 5) for w in ("fit", "nll", "sample")] == [5 * 4, 5 * 4, 5 * 4 * 3]
    assert n_parameters(model) == 4 * 3  # its table of log-probabilities
    mixture = registry.build("mixture", registry.params_class("mixture")(n_components=2, max_iter=3, tol=0), meta)
    mixture.fit(torch.randint(0, 3, (7, 1, 2, 2), dtype=torch.uint8), None)
    assert mixture.uncounted_flop("fit", 7) == 2 * 3 * 7 * 2 * 4  # E and M steps, 3 iterations, (component, pixel)
    assert mixture.uncounted_flop("sample", 1) == 2 + 4 * 3


def test_weight_averages_are_not_counted_as_parameters():
    meta = {"kind": "images", "shape": [1, 8, 8], "n_levels": 17}
    gan = registry.build("gan", registry.params_class("gan")(hidden=[8], latent_dim=2), meta)
    trained = sum(p.numel() for m in (gan.generator, gan.discriminator) for p in m.parameters())
    assert n_parameters(gan) == trained < sum(p.numel() for p in gan.parameters())
