"""Every registered model builds from its own defaults, runs forward and backward, and reports
its size."""

import pytest
import torch

from convseq.models import SeriesShape, TextShape, build_model, get_model, list_models
from convseq.models.registry import CaseShape
from convseq.models.summary import summarize


def example_input(name: str) -> torch.Tensor:
    if get_model(name).task == "text":
        return torch.randint(0, 100, (3, 60))
    return torch.randn(3, 80, 4)  # series windows (or cases): (batch, time, features)


def example_shape(name: str) -> TextShape | SeriesShape | CaseShape:
    if get_model(name).task == "text":
        return TextShape(vocab_size=100)
    if get_model(name).task == "classify":
        return CaseShape(num_channels=4, length=80, num_outputs=3)
    return SeriesShape(num_features=4, window=80)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = build_model(name, example_shape(name))  # the model's registered defaults
    out = model(example_input(name))
    assert out.shape[0] == 3 and torch.isfinite(out).all()
    params = [p for p in model.parameters() if p.requires_grad]
    if params:
        out.float().sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_every_model_belongs_to_one_task_and_its_defaults_are_its_builders():
    tasks = [set(list_models(task)) for task in ("text", "forecast", "classify")]
    assert set(list_models()) == set.union(*tasks) and sum(map(len, tasks)) == len(list_models())
    entry = get_model("text-cnn")
    assert entry.defaults == {"embed_dim": 128, "channels": 32, "kernel_size": 7, "pool": 5}
    assert entry.settings({"channels": 8}) == {**entry.defaults, "channels": 8}


def test_reference_text_cnn_matches_keras_parameter_count_and_shapes():
    model = build_model("text-cnn", TextShape(vocab_size=10_000))
    summary, total = summarize(model, torch.zeros(2, 500, dtype=torch.long))
    assert total == 1_315_937
    assert "(None, 32, 494)" in summary and "(None, 32, 92)" in summary
    assert model(torch.zeros(2, 500, dtype=torch.long)).shape == (2,)


def test_unknown_model_suggests_close_name():
    from convseq.errors import UserError

    with pytest.raises(UserError, match="did you mean 'text-cnn'"):
        build_model("text-cnnn", TextShape(vocab_size=10))


def test_unknown_setting_is_refused_with_the_models_settings():
    from convseq.errors import UserError

    with pytest.raises(UserError, match="has no setting 'chanels'.*did you mean 'channels'"):
        build_model("text-cnn", TextShape(vocab_size=10), {"chanels": 8})
