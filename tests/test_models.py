"""Every registered model builds, runs forward and backward, and reports its size."""

import pytest
import torch

from convseq.models import build_model, list_models
from convseq.models.summary import summarize

# Example inputs per model family; a new model must add its own entry here.
TEXT_MODELS = {name for name in list_models() if name.startswith("text-")}


def example_input(name: str) -> torch.Tensor:
    if name in TEXT_MODELS:
        return torch.randint(0, 100, (3, 60))
    return torch.randn(3, 80, 4)  # series windows: (batch, time, features); series-cnn needs 61


def settings_for(name: str) -> dict:
    if name in TEXT_MODELS:
        return {"vocab_size": 100}
    return {"num_features": 4, **({"window": 80} if name == "series-linear" else {})}


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = build_model(name, **settings_for(name))
    out = model(example_input(name))
    assert out.shape[0] == 3 and torch.isfinite(out).all()
    params = [p for p in model.parameters() if p.requires_grad]
    if params:
        out.float().sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_reference_text_cnn_matches_keras_parameter_count_and_shapes():
    model = build_model("text-cnn")
    summary, total = summarize(model, torch.zeros(2, 500, dtype=torch.long))
    assert total == 1_315_937
    assert "(None, 32, 494)" in summary and "(None, 32, 92)" in summary
    assert model(torch.zeros(2, 500, dtype=torch.long)).shape == (2,)


def test_unknown_model_suggests_close_name():
    from convseq.errors import UserError

    with pytest.raises(UserError, match="did you mean 'text-cnn'"):
        build_model("text-cnnn")
