"""The networks models share (genlab.nn.nets): convolutional encoders and decoders of any image
shape, their downsampling, and the spectral-norm linear layer."""

import pytest
import torch

from genlab.nn.nets import ConvDecoder, ConvEncoder, downsampled

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
