import math

import pytest
import torch

from genlab.models.gan import GAN, d_loss, g_loss
from genlab.nn.nets import ConvDecoder, ConvEncoder, downsampled
from genlab.models.vae import VAE

SHAPES = [(1, 8, 8), (1, 16, 16), (1, 28, 28), (3, 32, 32), (2, 7, 5), (1, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_encoder_and_decoder_fit_any_shape(shape):
    x = torch.rand(3, *shape)
    assert ConvEncoder(shape, 10, width=4)(x).shape == (3, 10)
    assert ConvDecoder(6, shape, 5, width=4)(torch.randn(3, 6)).shape == (3, *shape, 5)


def test_downsampling_counts():
    assert downsampled(8, 8) == (1, 4, 4)
    assert downsampled(28, 28) == (3, 4, 4)
    assert downsampled(32, 32) == (3, 4, 4)
    assert downsampled(7, 5) == (1, 4, 3)
    assert downsampled(3, 3) == (0, 3, 3)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape, levels", [((1, 8, 8), 17), ((1, 28, 28), 2), ((3, 32, 32), 4), ((1, 16, 16), 256)])
def test_vae_of_every_architecture_on_every_shape(arch, shape, levels):
    model = VAE(VAE.Params(arch=arch, latent_dim=3, hidden=[16], conv_width=4, train_k=2), shape, levels)
    x = torch.randint(0, levels, (4, *shape), dtype=torch.uint8)
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    per_pixel = model.obs.per_value  # 1 Bernoulli logit, L logits, or 3 per logistic component
    assert per_pixel == {2: 1, 4: 4, 17: 3, 256: 3}[levels]
    assert model.decode(torch.randn(5, 2, 3)).shape == (5, 2, math.prod(shape), per_pixel)
    s = model.sample(2, torch.Generator().manual_seed(0))
    assert s.shape == (2, *shape) and s.dtype == torch.uint8


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
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus
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


def test_gan_samples_are_quantised_to_the_levels():
    model = GAN(GAN.Params(hidden=[8], latent_dim=2), (1, 2, 2), 4)
    images = torch.tensor([0.0, 0.249, 0.25, 0.999, 1.0])
    assert model.quantise(images).tolist() == [0, 0, 1, 3, 3]


def test_gan_logs_a_fixed_noise_grid_at_every_validation(tmp_path):
    from dvclive import Live

    from genlab.training.loop import fit_gradient

    model = GAN(GAN.Params(hidden=[8], latent_dim=2, epochs=4, eval_every=2, n_eval=10, ema=0.0, lr=0.01), (1, 8, 8), 17)

    class Features:  # a stand-in classifier: pixel means as features
        def predict(self, x):
            f = x.float().flatten(1)
            return torch.cat([f.mean(1, keepdim=True), f.std(1, keepdim=True)], 1), None

    model.attach_classifier(Features())
    x = torch.randint(0, 17, (40, 1, 8, 8), dtype=torch.uint8)
    first = model.snapshot()
    with Live(dir=str(tmp_path / "live"), dvcyaml=None, save_dvc_exp=False) as live:
        fit_gradient(model, x, x[:20], live=live, progress=False)
    images = sorted(p.name for p in (tmp_path / "live" / "plots" / "images" / "samples").iterdir())
    assert images == ["epoch_0002.png", "epoch_0004.png"]
    assert first.tobytes() != model.snapshot().tobytes()  # the same noise, a trained generator


def test_spectral_norm_linear_is_torchs_spectral_norm_with_the_division_moved():
    from torch import nn

    from genlab.nn.nets import SpectralNormLinear

    torch.manual_seed(0)
    layer = nn.Linear(30, 7)
    ours = SpectralNormLinear(layer)
    x = torch.randn(5, 30)
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
    for _ in range(200):  # one power iteration per training forward
        y = ours(x)
    y.sum().backward()
    assert ours.weight.grad is not None and torch.isfinite(ours.weight.grad).all()
    ours.eval()  # no more iterations: the estimate of sigma has converged
    with torch.no_grad():
        assert torch.allclose(ours(x), layer(x) / sigma + layer.bias * (1 - 1 / sigma), atol=1e-4)


def test_spectral_norm_linear_allows_two_forwards_before_one_backward():
    from torch import nn

    from genlab.nn.nets import SpectralNormLinear

    layer = SpectralNormLinear(nn.Linear(6, 4))
    x = torch.randn(3, 6)
    (layer(x).sum() + layer(x).sum()).backward()  # a gradient penalty or separate real/fake passes
    assert torch.isfinite(layer.weight.grad).all()
