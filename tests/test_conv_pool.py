"""The channels-last Conv1d+ReLU+MaxPool1d layer and the forecasting convnets' fast path."""

import pytest
import torch
import torch.nn as nn

from convseq.models import SeriesShape, build_model
from convseq.models.conv_pool import conv_relu_pool


def reference(x, conv, pool):
    h = torch.relu(conv(x.transpose(1, 2)))
    return (nn.MaxPool1d(pool)(h) if pool > 1 else h).transpose(1, 2)


@pytest.mark.parametrize(
    ("length", "pool", "batch"),
    [(40, 3, 4), (41, 3, 4), (42, 3, 1), (20, 1, 3), (30, 26, 2)],  # 41, 42: partial last group
)
def test_matches_conv1d_relu_maxpool_forward_and_grads(length, pool, batch):
    torch.manual_seed(length + pool)
    conv = nn.Conv1d(6, 8, 5).double()
    x = torch.randn(batch, length, 6, dtype=torch.float64, requires_grad=True)
    expected = reference(x, conv, pool)
    got = conv_relu_pool(x, conv.weight, conv.bias, pool)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)
    upstream = torch.randn_like(expected)
    inputs = (x, conv.weight, conv.bias)
    want = torch.autograd.grad(expected, inputs, upstream)
    have = torch.autograd.grad(got, inputs, upstream)
    for name, a, b in zip(("input", "weight", "bias"), have, want, strict=True):
        torch.testing.assert_close(a, b, msg=f"gradient of the {name} differs")


def test_tied_maxima_send_the_gradient_to_the_first_as_maxpool_does():
    conv = nn.Conv1d(2, 3, 2).double()
    # constant input: every window of a pool group gives the same value
    x = torch.ones(2, 13, 2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        conv.bias.fill_(1.0)  # keep the outputs positive, so the ReLU passes the gradient
    upstream = torch.randn(2, 4, 3, dtype=torch.float64)
    inputs = (x, conv.weight, conv.bias)
    want = torch.autograd.grad(reference(x, conv, 3), inputs, upstream)
    have = torch.autograd.grad(conv_relu_pool(x, conv.weight, conv.bias, 3), inputs, upstream)
    for a, b in zip(have, want, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("name", "length"), [("series-cnn", 90), ("series-cnn-gru", 50)])
def test_forecast_convnets_fast_path_equals_layer_by_layer(name, length):
    torch.manual_seed(0)
    shape = SeriesShape(num_features=5, window=length)
    model = build_model(name, shape, {"residual": True}).double().eval()
    x = torch.randn(4, length, 5, dtype=torch.float64)
    fast = model(x)
    fast_grads = torch.autograd.grad(fast.sum(), list(model.parameters()))
    # a forward hook switches the model to the plain nn.Conv1d / nn.MaxPool1d layers
    handle = model.features[0].register_forward_hook(lambda *args: None)
    slow = model(x)
    slow_grads = torch.autograd.grad(slow.sum(), list(model.parameters()))
    handle.remove()
    torch.testing.assert_close(fast, slow)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(a, b)
