"""Forecasting models: baselines by hand, the real (Keras-style) recurrent dropout, shapes."""

from pathlib import Path

import numpy as np
import pytest
import torch

import convseq.models.gru as gru_module
from convseq.data.windows import Windows
from convseq.models import SeriesShape, build_model
from convseq.models.forecast import Mean
from convseq.models.gru import KerasGRU
from convseq.models.summary import summarize
from convseq.training.tasks import make_task
from convseq.training.trainer import evaluate


# ------------------------------------------------------------------ baselines
def toy_windows():
    """A target that grows quadratically, so every horizon has a different error."""
    rows = np.arange(40, dtype=np.float32)
    data = np.stack([np.sin(rows), rows**2 / 100], axis=1).astype(np.float32)
    return data, Windows(
        data, data[:, 1], lookback=4, step=2, delay=3, min_index=0, max_index=30, batch_size=5
    )


def test_common_sense_mae_matches_hand_computation():
    data, windows = toy_windows()
    # window before row i ends at row i-2 (step 2); the target is row i+3
    by_hand = np.mean([abs(data[i + 3, 1] - data[i - 2, 1]) for i in range(4, 30)])
    model = build_model("common-sense", SeriesShape(num_features=2, window=2, target_index=1))
    got = evaluate(model, make_task("regression"), windows)["mae"]
    assert got == pytest.approx(by_hand, rel=1e-6)


def test_mean_baseline_mae_matches_hand_computation():
    data, windows = toy_windows()
    value = float(data[:20, 1].mean())
    by_hand = np.mean([abs(data[i + 3, 1] - value) for i in range(4, 30)])
    model = Mean(num_features=2, value=value)
    got = evaluate(model, make_task("regression"), windows)["mae"]
    assert got == pytest.approx(by_hand, rel=1e-6)
    assert sum(p.numel() for p in model.parameters()) == 0


def test_the_registered_mean_baseline_is_zero_the_training_mean_of_normalized_data():
    model = build_model("mean", SeriesShape(num_features=2, window=2))
    assert torch.equal(model(torch.randn(3, 2, 2)), torch.zeros(3))


# ------------------------------------------------------------ recurrent dropout
def slow_keras_gru(x, gru, in_masks, rec_masks):
    """Keras's GRUCell (implementation 1, reset_after) step by step, masks per gate.

    ``in_masks`` (batch, gate, features), ``rec_masks`` (gate, batch, hidden);
    gates in nn.GRU's order r, z, n. The carried state is not masked.
    """
    _, steps, features = x.shape
    hidden = gru.hidden_size
    w = gru.weight_ih_l0.view(3, hidden, features)
    u = gru.weight_hh_l0.view(3, hidden, hidden)
    b, c = gru.bias_ih_l0.view(3, hidden), gru.bias_hh_l0.view(3, hidden)
    h = x.new_zeros(x.shape[0], hidden)
    for t in range(steps):
        xs = [x[:, t] * in_masks[:, g] for g in range(3)]
        hs = [h * rec_masks[g] for g in range(3)]
        r = torch.sigmoid(xs[0] @ w[0].T + b[0] + hs[0] @ u[0].T + c[0])
        z = torch.sigmoid(xs[1] @ w[1].T + b[1] + hs[1] @ u[1].T + c[1])
        n = torch.tanh(xs[2] @ w[2].T + b[2] + r * (hs[2] @ u[2].T + c[2]))
        h = z * h + (1 - z) * n
    return h


@pytest.fixture
def recorded_masks(monkeypatch):
    masks = []
    original = gru_module.dropout_mask

    def record(shape, p, like):
        mask = original(shape, p, like)
        masks.append(mask)
        return mask

    monkeypatch.setattr(gru_module, "dropout_mask", record)
    return masks


def test_the_step_loops_are_plain_python():
    """TorchScript is deprecated in PyTorch: the GRU must not depend on it."""
    assert not isinstance(gru_module._forward_steps, torch.jit.ScriptFunction)
    assert "torch.jit" not in Path(gru_module.__file__).read_text()


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_train_mode_applies_one_mask_per_sequence_like_keras(recorded_masks, dropout):
    torch.manual_seed(0)
    layer = KerasGRU(5, 6, dropout=dropout, recurrent_dropout=0.4).double().train()
    x = torch.randn(4, 9, 5, dtype=torch.double, requires_grad=True)
    out = layer(x)
    rec_masks = recorded_masks[-1]
    in_masks = recorded_masks[0] if dropout else torch.ones(4, 3, 5, dtype=torch.double)
    assert rec_masks.shape == (3, 4, 6) and (rec_masks == 0).any()
    expected = slow_keras_gru(x, layer.gru, in_masks, rec_masks)
    torch.testing.assert_close(out, expected)
    # the hand-written backward pass agrees with autograd through the slow loop
    params = [x, *layer.parameters()]
    got = torch.autograd.grad(out.pow(2).sum(), params)
    want = torch.autograd.grad(expected.pow(2).sum(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_recurrent_dropout_changes_training_outputs_but_not_evaluation():
    torch.manual_seed(0)
    layer = KerasGRU(3, 8, dropout=0.0, recurrent_dropout=0.5)
    x = torch.randn(16, 12, 3)
    layer.train()
    first, second = layer(x), layer(x)
    assert not torch.allclose(first, second)  # a fresh mask for every call
    layer.eval()
    plain = layer.gru(x)[1][-1]
    torch.testing.assert_close(layer(x), plain)
    torch.testing.assert_close(layer(x), layer(x))
    # with every recurrent unit dropped, the state never feeds back: same as a zero U
    layer.train()
    layer.recurrent_dropout = 0.999999
    torch.manual_seed(1)
    dropped = layer(x)
    with torch.no_grad():
        layer.gru.weight_hh_l0.zero_()
    layer.eval()
    torch.testing.assert_close(dropped, layer(x), atol=1e-5, rtol=0)


def test_input_dropout_alone_uses_one_mask_and_the_fused_kernel(recorded_masks):
    torch.manual_seed(0)
    layer = KerasGRU(4, 5, dropout=0.5, recurrent_dropout=0.0).train()
    x = torch.randn(6, 7, 4)
    out = layer(x)
    (mask,) = recorded_masks
    assert mask.shape == (6, 1, 4)
    torch.testing.assert_close(out, layer.gru(x * mask)[1][-1])


def test_gru_refuses_impossible_rates():
    with pytest.raises(ValueError, match="recurrent_dropout"):
        KerasGRU(3, 4, recurrent_dropout=1.0)


# ------------------------------------------------------------------- shapes
SERIES_MODELS = ["series-cnn", "series-cnn-gru", "series-gru", "common-sense", "mean"]


@pytest.mark.parametrize("name", SERIES_MODELS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_window_batch_to_one_value_per_window(name, mode):
    torch.manual_seed(0)
    model = build_model(name, SeriesShape(num_features=14, window=240))
    model.train(mode == "train")
    out = model(torch.randn(5, 240, 14))
    assert out.shape == (5,) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name, params, last_shape",
    [
        # 14 features, as in the reference; counts are those Keras reports for the same layers
        ("series-cnn", 2_272 + 5_152 + 5_152 + 33, "(None, 32, 20)"),
        ("series-cnn-gru", 2_272 + 5_152 + 6_336 + 33, "(None, 32)"),
        ("series-gru", 3 * (14 * 32 + 32 * 32 + 2 * 32) + 33, "(None, 32)"),
    ],
)
def test_reference_models_match_keras_sizes(name, params, last_shape):
    # as the Jena presets build them: forecasting the value, not the change
    model = build_model(name, SeriesShape(num_features=14, window=240), {"residual": False})
    summary, total = summarize(model, torch.zeros(2, 240, 14))
    assert total == params
    assert last_shape in summary


def test_cnn_declares_the_shortest_window_it_can_read():
    model = build_model("series-cnn", SeriesShape(num_features=3, window=80))
    assert model(torch.randn(2, model.min_length, 3)).shape == (2,)
    with pytest.raises(RuntimeError):
        model(torch.randn(2, model.min_length - 1, 3))
