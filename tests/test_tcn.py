"""The TCN block: causality, exact receptive field, shapes, settings and summary."""

import pytest
import torch

from convseq.errors import UserError
from convseq.models import SeriesShape, TextShape, build_model
from convseq.models.summary import summarize
from convseq.models.tcn import TCN, receptive_field

CONFIGS = [
    dict(kernel_size=3, dilations=[1, 2, 4, 8], norm="weight"),
    dict(kernel_size=2, dilations=[1, 3, 2], norm="layer"),
    dict(kernel_size=5, dilations=[1, 2], norm="none"),
    dict(kernel_size=3, dilations=[1, 2, 4], channels=[6, 8, 5], norm="weight"),
]
NON_CAUSAL = [
    dict(kernel_size=3, dilations=[1, 2, 4], norm="weight"),
    dict(kernel_size=5, dilations=[1, 3], norm="layer"),
    dict(kernel_size=3, dilations=[2, 1], channels=[4, 7], norm="none"),
]


def make_tcn(causal: bool, **config) -> TCN:
    torch.manual_seed(0)
    settings = {"channels": 8, **config}
    return TCN(3, causal=causal, dropout=0.3, **settings).double().eval()


def dependence(tcn: TCN, length: int, t: int) -> list[int]:
    """The input steps whose gradient on output step t is non-zero for some of 16 inputs.

    Several random inputs keep a ReLU that happens to be off for one input
    from hiding a real dependence.
    """
    x = torch.randn(16, 3, length, dtype=torch.float64, requires_grad=True)
    tcn(x)[:, :, t].sum().backward()
    return torch.nonzero(x.grad.abs().sum(dim=(0, 1))).flatten().tolist()


@pytest.mark.parametrize("config", CONFIGS)
def test_causal_output_depends_on_exactly_the_last_r_steps(config):
    tcn = make_tcn(True, **config)
    r = tcn.receptive_field
    length = r + 12
    for t in (length - 1, r - 1, r + 4):
        assert dependence(tcn, length, t) == list(range(t - r + 1, t + 1))
    # near the start the window is cut by the sequence start, never widened
    assert dependence(tcn, length, 2) == [0, 1, 2]


@pytest.mark.parametrize("config", CONFIGS)
def test_changing_step_t_changes_no_earlier_output(config):
    tcn = make_tcn(True, **config)
    length, t = tcn.receptive_field + 10, tcn.receptive_field // 2 + 3
    x = torch.randn(1, 3, length, dtype=torch.float64)
    changed = x.clone()
    changed[:, :, t] += 5.0
    a, b = tcn(x), tcn(changed)
    assert torch.equal(a[:, :, :t], b[:, :, :t])
    assert not torch.allclose(a[:, :, t], b[:, :, t])


@pytest.mark.parametrize("config", NON_CAUSAL)
def test_non_causal_window_is_centred_and_r_wide(config):
    tcn = make_tcn(False, **config)
    r = tcn.receptive_field
    half = (r - 1) // 2
    length = r + 10
    for t in (half, half + 5, length - 1 - half):
        assert dependence(tcn, length, t) == list(range(t - half, t + half + 1))


def test_receptive_field_formula():
    # two convolutions of kernel 3 per block: 1 + 2 * 2 * (1 + 2 + 4 + 8)
    assert receptive_field(3, [1, 2, 4, 8]) == 61
    assert TCN(2, kernel_size=3, dilations=[1, 2, 4, 8]).receptive_field == 61
    assert TCN(2).receptive_field == 61  # the default: kernel 3, dilations 1, 2, 4, 8
    # two convolutions of kernel 2 per block: 1 + 2 * 1 * (1 + 5)
    assert TCN(2, kernel_size=2, dilations=[1, 5]).receptive_field == 13


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("length", [1, 7, 100])
def test_length_is_kept_even_below_the_receptive_field(causal, length):
    tcn = TCN(5, channels=[16, 12], kernel_size=3, dilations=[1, 4], causal=causal)
    assert tcn(torch.randn(4, 5, length)).shape == (4, 12, length)
    assert tcn.out_channels == 12


def test_norms_are_built_as_asked():
    weight = TCN(2, channels=4, dilations=[1], norm="weight")
    conv = weight.blocks[0].convs[0].conv
    assert hasattr(conv, "parametrizations") and "weight" in conv.parametrizations
    layer = TCN(2, channels=4, dilations=[1], norm="layer")
    assert any(type(m).__name__ == "ChannelLayerNorm" for m in layer.modules())
    plain = TCN(2, channels=4, dilations=[1], norm="none")
    assert not hasattr(plain.blocks[0].convs[0].conv, "parametrizations")


def test_layer_norm_keeps_each_step_independent_of_the_future():
    tcn = make_tcn(True, kernel_size=3, dilations=[1, 2], norm="layer")
    x = torch.randn(1, 3, 30, dtype=torch.float64)
    changed = x.clone()
    changed[:, :, 20:] = 0.0
    assert torch.equal(tcn(x)[:, :, :20], tcn(changed)[:, :, :20])


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(kernel_size=4, causal=False), "odd kernel size"),
        (dict(norm="batch"), "unknown TCN norm 'batch'"),
        (dict(dilations=[1, 0]), "dilations must be positive"),
        (dict(channels=[8, 8], dilations=[1, 2, 4]), "one per block"),
        (dict(dilations=[]), "at least one block"),
        (dict(dropout=1.0), "dropout must be in"),
    ],
)
def test_bad_settings_are_user_errors(settings, message):
    with pytest.raises(UserError, match=message):
        TCN(3, **settings)


def test_text_tcn_summary_shows_receptive_field_and_ignores_padding():
    torch.manual_seed(0)
    settings = {"embed_dim": 8, "channels": 8, "dilations": [1, 2, 4]}
    model = build_model("text-tcn", TextShape(vocab_size=50), settings).eval()
    assert model.receptive_field == 29
    text, params = summarize(model, torch.randint(1, 50, (2, 40)))
    assert "Receptive field: 29 steps: 14 steps each side (non-causal)" in text
    assert params == sum(p.numel() for p in model.parameters())
    review = torch.randint(1, 50, (1, 30))
    padded = torch.cat([torch.zeros(1, 17, dtype=torch.long), review], dim=1)
    with torch.no_grad():
        assert torch.allclose(model(review), model(padded), atol=1e-6)


def test_series_tcn_forecasts_one_value_from_the_last_r_steps():
    torch.manual_seed(0)
    shape = SeriesShape(num_features=4, window=64)
    model = build_model("series-tcn", shape, {"channels": 8, "dilations": [1, 2, 4]}).eval()
    r = model.receptive_field
    x = torch.randn(5, r + 20, 4)
    assert model(x).shape == (5,)
    changed = x.clone()
    changed[:, : x.shape[1] - r] = 0.0  # everything older than the receptive field
    assert torch.equal(model(x), model(changed))
    changed[:, x.shape[1] - r] += 1.0  # the oldest step inside it
    assert not torch.allclose(model(x), model(changed))
    text, _ = summarize(model, x)
    assert f"Receptive field: {r} steps: the last {r} steps (causal)" in text


@pytest.mark.parametrize(
    "config",
    [
        dict(kernel_size=3, dilations=[1, 2, 4, 8, 16], norm="weight"),
        dict(kernel_size=2, dilations=[1, 3, 6], norm="layer"),
        dict(kernel_size=5, dilations=[2, 4, 8], channels=[4, 6, 5]),
        dict(kernel_size=3, dilations=[1, 3, 2], norm="none"),  # not a chain: full forward
    ],
)
def test_last_only_equals_the_full_forward_at_every_length(config):
    tcn = make_tcn(True, **config)
    r = tcn.receptive_field
    for length in (1, 4, r - 1, r, r + 37):
        x = torch.randn(5, 3, length, dtype=torch.float64)
        assert torch.allclose(tcn(x, last_only=True), tcn(x)[:, :, -1], atol=1e-12), length


def test_last_only_draws_the_full_forwards_spatial_dropout_masks():
    # in training, the last-step grid applies ReLU and spatial dropout channels last;
    # it must draw the masks nn.Dropout1d draws in the full forward, in the same order
    torch.manual_seed(0)
    tcn = (
        TCN(3, channels=8, dilations=[1, 2, 4], dropout=0.3, spatial_dropout=True).double().train()
    )
    x = torch.randn(5, 3, tcn.receptive_field + 9, dtype=torch.float64)
    torch.manual_seed(1)
    full = tcn(x)[:, :, -1]
    torch.manual_seed(1)
    last = tcn(x, last_only=True)
    torch.manual_seed(2)
    other = tcn(x, last_only=True)
    assert torch.allclose(last, full, atol=1e-12)
    assert not torch.allclose(last, other)  # the masks did drop something


def test_last_only_convolves_far_fewer_positions_than_the_full_forward():
    """The point of ``last_only``: count the output positions of every convolution."""
    tcn = make_tcn(True, kernel_size=3, dilations=[1, 2, 4, 8, 16])
    positions = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: positions.append(out.shape))
        for m in tcn.modules()
        if type(m).__name__ == "DilatedConv"
    ]
    x = torch.randn(2, 3, 240, dtype=torch.float64)
    tcn(x)
    full, positions[:] = sum(shape[2] for shape in positions), []  # (batch, channels, time)
    tcn(x, last_only=True)
    for hook in hooks:
        hook.remove()
    assert full == 10 * 240
    # R = 125 steps, then every 2nd before each later block: 125, 61, 29, 13 and 5 steps,
    # each unpadded convolution giving 2 fewer; (batch, time, channels) on this path
    grid = [125, 123, 121, 61, 59, 57, 29, 27, 25, 13, 11, 9, 5, 3, 1]
    expected = [n for k, n in enumerate(grid) if k % 3]
    assert [shape[1] for shape in positions] == expected
    assert sum(expected) == 436
