"""Every model and the hand-written kernels on every device this machine has, and in each precision.

Always the CPU; CUDA too when present (``benchmarks/gpu_check.py`` runs this
file on a GPU machine). On another device a model must compute what it
computes on the CPU; under bf16 autocast it must train, and its custom
autograd functions must run in fp32 inside.
"""

import json

import pytest
import torch

from convseq.cli import main
from convseq.config import Training
from convseq.errors import UserError
from convseq.models.registry import example_input, example_shape, get_model, list_models
from convseq.training.devices import autocast, resolve_device, resolve_precision
from convseq.training.optim import make_optimizer, sparse_parameters
from tests.forecast_helpers import WINDOW, refused, write_series

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def built(name: str, device: str) -> tuple[torch.nn.Module, torch.Tensor]:
    entry = get_model(name)
    shape = example_shape(entry.task)
    torch.manual_seed(0)
    model = entry.make(shape, entry.example_settings).to(device)
    return model, example_input(shape).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list_models())
def test_every_model_computes_the_same_on_every_device(name, device):
    cpu_model, cpu_input = built(name, "cpu")
    model, inputs = built(name, device)
    model.load_state_dict(cpu_model.state_dict())
    model.eval(), cpu_model.eval()
    with torch.no_grad():
        assert torch.allclose(model(inputs).cpu(), cpu_model(cpu_input), atol=1e-4, rtol=1e-4)
    if not get_model(name).trainable:
        return
    model.train()
    optimizer = make_optimizer("adam", [p for p in model.parameters() if p.requires_grad], 1e-3,
                               sparse=sparse_parameters(model))  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    (model(inputs).float() - 1).square().mean().backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", [m for m in list_models() if get_model(m).trainable])
def test_every_model_trains_under_bf16_autocast(name, device):
    """bf16 autocast (on the CPU too): gradients exist and are finite, weights stay fp32."""
    model, inputs = built(name, device)
    model.train()
    with autocast(torch.device(device), "bf16"):
        loss = (model(inputs).float() - 1).square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(
        torch.isfinite(g.coalesce().values() if g.is_sparse else g).all() for g in grads
    )
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_device_and_precision_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(UserError, match="no CUDA GPU; pass --device cpu"):
            resolve_device("cuda")
    with pytest.raises(UserError, match="--device must be auto, cpu, cuda, cuda:N or mps"):
        Training(device="gpu")
    with pytest.raises(UserError, match="--precision must be one of auto, fp32, bf16, fp16"):
        Training(precision="fp8")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_mixed_precision_run_trains_records_and_predicts_on_the_cpu(precision, tmp_path, capsys):
    data = write_series(tmp_path / "load.csv")
    out = tmp_path / "run"
    argv = ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load", *WINDOW,
            "--epochs", "2", "--device", "cpu", "--precision", precision, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    written = json.loads((out / "config.json").read_text())
    config, placement = written["config"], written["environment"]
    assert (config["train"]["device"], config["train"]["precision"]) == ("cpu", precision)
    assert (placement["device"], placement["precision"], placement["processes"]) == (
        "cpu",
        precision,
        1,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_mae"] < metrics["baseline_test_mae"]  # it learned
    capsys.readouterr()
    assert main(["predict", str(out), str(data), "--device", "cpu"]) == 0
    assert "forecast" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_gpu_on_a_cpu_machine_is_one_line(tmp_path, capsys):
    data = write_series(tmp_path / "load.csv")
    argv = ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load", *WINDOW,
            "--device", "cuda", "--out", str(tmp_path / "r")]  # fmt: skip
    refused(argv, capsys, "no CUDA GPU; pass --device cpu")
    assert not (tmp_path / "r").exists()
