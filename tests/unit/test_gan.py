"""The GAN: every architecture on every image shape, its losses against hand computation, its
samples on the levels, and the fixed-noise pictures it logs while training."""

import math

import pytest
import torch

from genlab.models.gan import GAN, d_loss, g_loss


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape, levels", [((1, 8, 8), 17), ((1, 28, 28), 2), ((3, 32, 32), 256)])
def test_gan_of_every_architecture_on_every_shape(arch, shape, levels):
    model = GAN(GAN.Params(arch=arch, latent_dim=4, hidden=[16], conv_width=4), shape, levels)
    x = torch.randint(0, levels, (4, *shape), dtype=torch.uint8)
    losses = model.train_step((x,), model.make_optimizers())
    assert set(losses) == {"d_loss", "g_loss"}
    s = model.sample(3, torch.Generator().manual_seed(0))
    assert s.shape == (3, *shape) and s.dtype == torch.uint8 and int(s.max()) < levels
    assert not model.training and not model.ema_generator.training  # sampling is in eval mode
    strip = model.interpolation_strip(x, 2, 3, torch.Generator().manual_seed(0))
    assert strip.shape == (2, 3, *shape)


def test_non_saturating_losses_against_hand_computation():
    real = torch.tensor([0.0, 2.0])
    fake = torch.tensor([0.0, -2.0])
    sp = lambda v: math.log1p(math.exp(v))
    # D: mean softplus(-real) + mean softplus(fake)
    assert d_loss(real, fake, "non_saturating").item() == pytest.approx((sp(0) + sp(-2)) / 2 * 2, abs=1e-6)
    # G: mean softplus(-fake) = -log sigmoid(fake)
    assert g_loss(fake, "non_saturating").item() == pytest.approx((sp(0) + sp(2)) / 2, abs=1e-6)
    # a discriminator that is right has a lower loss than one that is wrong
    assert d_loss(torch.tensor([5.0]), torch.tensor([-5.0]), "non_saturating") < d_loss(
        torch.tensor([-5.0]), torch.tensor([5.0]), "non_saturating"
    )
    # the generator's loss falls as the discriminator believes its samples
    assert g_loss(torch.tensor([3.0]), "non_saturating") < g_loss(torch.tensor([-3.0]), "non_saturating")


def test_hinge_losses_against_hand_computation():
    real = torch.tensor([2.0, 0.5])
    fake = torch.tensor([-2.0, 0.5])
    # relu(1 - real) = [0, 0.5]; relu(1 + fake) = [0, 1.5]
    assert d_loss(real, fake, "hinge").item() == pytest.approx(0.25 + 0.75)
    assert g_loss(fake, "hinge").item() == pytest.approx(0.75)


def test_gan_samples_are_quantized_to_the_levels():
    model = GAN(GAN.Params(hidden=[8], latent_dim=2), (1, 2, 2), 4)
    images = torch.tensor([0.0, 0.249, 0.25, 0.999, 1.0])
    assert model.quantize(images).tolist() == [0, 0, 1, 3, 3]


def test_gan_logs_a_fixed_noise_grid_at_every_validation(tmp_path):
    from dvclive import Live

    from genlab.training.loop import fit_gradient

    model = GAN(GAN.Params(hidden=[8], latent_dim=2, epochs=4, eval_every=2, n_eval=10, ema=0.0, lr=0.01), (1, 8, 8), 17)

    class Features:  # a stand-in classifier: pixel means as features
        def predict(self, x):
            f = x.float().flatten(1)
            return torch.cat([f.mean(1, keepdim=True), f.std(1, keepdim=True)], 1), None

    model.attach_features(Features())
    x = torch.randint(0, 17, (40, 1, 8, 8), dtype=torch.uint8)
    first = model.snapshot()
    with Live(dir=str(tmp_path / "live"), dvcyaml=None, save_dvc_exp=False) as live:
        fit_gradient(model, x, x[:20], live=live, progress=False)
    images = sorted(p.name for p in (tmp_path / "live" / "plots" / "images" / "samples").iterdir())
    assert images == ["epoch_0002.png", "epoch_0004.png"]
    assert first.tobytes() != model.snapshot().tobytes()  # the same noise, a trained generator
