"""The linear forecaster and the TCN + linear ensemble: each member on its own loss, mean forecast."""

import json

import numpy as np
import pytest
import torch

import convseq
from convseq.cli import main
from convseq.errors import UserError
from convseq.models import SeriesShape, build_model
from convseq.models.ensemble import Ensemble, members_of
from convseq.models.series_linear import SeriesLinear
from convseq.training.tasks import make_task
from tests.onnx_helpers import exported_max_diff
from tests.series_files import write_ett
from tests.test_tcn_presets import TINY


def test_the_linear_forecaster_is_one_linear_map_of_the_relative_window():
    torch.manual_seed(0)
    model = SeriesLinear(3, window=5, residual=True, target_index=1, absolute_features=[2])
    x = torch.randn(4, 7, 3)
    relative = x.clone()
    relative[:, :, :2] -= x[:, -1:, :2]  # the calendar column stays absolute
    flat = relative[:, -5:].reshape(4, 15)
    expected = flat @ model.linear.weight[0] + model.linear.bias + x[:, -1, 1]
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert model.min_length == 5


def tcn_with_linear_member():
    torch.manual_seed(0)
    settings = {"channels": 4, "dilations": [1, 2], "residual": True, "linear_member": True}
    return build_model("series-tcn", SeriesShape(num_features=2, window=12), settings)


def test_the_tcn_ensemble_trains_each_member_on_its_own_loss_and_forecasts_their_mean():
    model = tcn_with_linear_member()
    assert isinstance(model, Ensemble)
    tcn, linear = members_of(model)
    for block in tcn.tcn.blocks:  # no dropout: the same forward twice
        for after in block.after:
            after[-1].p = 0.0
    x, target = torch.randn(6, 12, 2), torch.randn(6)
    task = make_task("regression", loss="huber", huber_delta=0.1, members=2)
    model.train()
    outputs = model(x)
    assert outputs.shape == (6, 2)
    loss = task.loss(outputs, target)
    alone = [
        make_task("regression", loss="huber", huber_delta=0.1).loss(m(x), target)
        for m in (tcn, linear)
    ]
    assert torch.allclose(loss, torch.stack(alone).mean())
    loss.backward()
    together = linear.linear.weight.grad.clone()
    model.zero_grad()
    (alone[1] / 2).backward()
    assert torch.allclose(linear.linear.weight.grad, together)  # nothing from the TCN's loss
    mean = outputs.detach().mean(dim=-1)
    assert task.batch_metrics(outputs.detach(), target)["mae"] == pytest.approx(
        (mean - target).abs().sum().item(), rel=1e-6
    )
    model.eval()
    assert torch.allclose(model(x), (tcn(x) + linear(x)) / 2)


def test_a_single_model_task_still_reads_a_path_as_a_path():
    task = make_task("regression")  # members 1: (batch, H) is a path, scored at its last column
    path, target = torch.tensor([[0.0, 1.0], [0.0, 3.0]]), torch.tensor([1.0, 1.0])
    assert task.batch_metrics(path, target)["mae"] == pytest.approx(2.0)


def test_etth1_tcn_with_a_linear_member_runs_saves_predicts_and_exports(tmp_path):
    write_ett(tmp_path / "ett", rows=700)
    out = tmp_path / "run"
    argv = ["run", "etth1-tcn", "--data-dir", str(tmp_path / "ett"), "--out", str(out), *TINY]
    assert main([*argv, "--linear-member"]) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["model"]["settings"]["linear_member"] is True
    forecaster = convseq.load(out)
    tcn, linear = members_of(forecaster.model)
    assert linear.window == 65  # lookback 130, step 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_mae"])
    evaluated = forecaster.evaluate(tmp_path / "ett" / "ETTh1.csv")
    assert np.isfinite(evaluated["mae"])
    assert exported_max_diff(out) <= 1e-4


def test_with_paths_each_member_forecasts_the_path_and_learns_on_its_own_path_loss():
    torch.manual_seed(0)
    model = build_model(
        "series-tcn", SeriesShape(num_features=2, window=12, horizons=3),
        {"channels": 4, "dilations": [1, 2], "residual": True, "linear_member": True,
         "dropout": 0.0},
    )  # fmt: skip
    tcn, linear = members_of(model)
    x, path = torch.randn(6, 12, 2), torch.randn(6, 3)
    task = make_task("regression", final_weight=0.5, members=2, horizons=3)
    model.train()
    outputs = model(x)
    assert outputs.shape == (6, 3, 2)
    alone = make_task("regression", final_weight=0.5)
    expected = (alone.loss(tcn(x), path) + alone.loss(linear(x), path)) / 2
    assert torch.allclose(task.loss(outputs, path), expected)
    model.eval()
    assert model(x).shape == (6, 3)  # the mean path; its last column is the forecast
    final = torch.randn(6)
    assert task.batch_metrics(model(x).detach(), final)["mae"] == pytest.approx(
        (model(x)[:, -1] - final).abs().sum().item(), rel=1e-6
    )


def test_series_linear_trains_on_a_users_file_and_forecasts(tmp_path):
    from tests.forecast_helpers import train_forecast, write_series

    data = write_series(tmp_path / "plant.csv", rows=400)
    out = tmp_path / "run"
    assert train_forecast(data, out, "--model", "series-linear") == 0
    forecaster = convseq.load(out)
    assert isinstance(forecaster.model, SeriesLinear)
    assert forecaster.model.window == forecaster.length  # rows in one window
    forecast = forecaster.predict(data)
    assert np.isfinite(forecast.value)


def test_a_linear_member_option_trains_both_members(tmp_path):
    from convseq.models.registry import rebuild
    from tests.forecast_helpers import train_forecast, write_series

    data = write_series(tmp_path / "plant.csv", rows=400)
    out = tmp_path / "run"
    assert train_forecast(data, out, "--model", "series-tcn", "--linear-member") == 0
    tcn, linear = members_of(convseq.load(out).model)
    metadata = weights_metadata(out)
    assert metadata["model"] == "series-tcn" and metadata["settings"]["linear_member"] is True
    torch.manual_seed(0)  # the run's seed: the weights the members started from
    fresh_tcn, fresh_linear = members_of(rebuild(metadata))
    assert not torch.allclose(tcn.head.weight, fresh_tcn.head.weight)  # the TCN learned
    assert not torch.allclose(linear.linear.weight, fresh_linear.linear.weight)  # and the map


def weights_metadata(run) -> dict:
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), "pt") as weights:
        metadata = weights.metadata()
    return {k: json.loads(metadata[k]) for k in ("model", "shape", "settings")}


@pytest.mark.parametrize("model", ["series-cnn-gru", "series-linear"])
def test_a_linear_member_is_refused_for_other_models(tmp_path, capsys, model):
    from tests.forecast_helpers import one_model, write_series

    data = write_series(tmp_path / "plant.csv", rows=400)
    argv = one_model(data)
    argv += ["--model", model, "--linear-member", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exited:  # not a setting of this model: argparse refuses
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --linear-member" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="has no setting 'linear_member'"):  # nor of the API
        convseq.train_forecast(data, model=model, linear_member=True, out=tmp_path / "api")
    assert not (tmp_path / "api").exists()
