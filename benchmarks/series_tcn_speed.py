"""Is etth1-tcn's training step cheaper than etth1-cnn-gru's? And what does last-step-only save?

Builds each preset's model with its default settings, as ``convseq run`` builds it
(``PRESETS[NAME].make_run``; ETTh1: 240 steps of OT, plus the four calendar
columns for the TCN, and its linear member) and times training steps
(forward, the preset's loss backward, the preset's optimizer step: Adam for the
TCN, RMSprop for the GRU) on random windows of the preset's batch size. The models alternate in one process and the CPU time of this one
thread is counted, so a machine shared with other jobs slows them alike.
Also times the same TCN computing every step of its output and keeping the
last (what a plain causal TCN does), to show what ``last_only`` saves.
Exits 1 when etth1-tcn is not the faster of the two presets.

    PYTHONPATH=src python benchmarks/series_tcn_speed.py [--repeats 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from convseq.data.derived import CALENDAR_COLUMNS
from convseq.models import SeriesShape, get_model
from convseq.models.ensemble import Ensemble, members_of
from convseq.models.forecast import path_or_value
from convseq.presets import PRESETS
from convseq.training.optim import make_optimizer
from convseq.training.tasks import make_task


class FullForward(torch.nn.Module):
    """The same SeriesTCN, but its TCN computes every step before the last is taken."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        m = self.model
        steps = m.tcn(m.anchor.relative(x).transpose(1, 2))
        return m.anchor.absolute(path_or_value(m.head(steps[:, :, -1])), x)


def preset_model(preset: str):
    """``preset``'s model built as its pipeline builds it, for OT plus the calendar columns it
    reads; its run settings (``RunConfig``) and its task (loss and metrics)."""
    run = PRESETS[preset].make_run({})
    shaping = run.shaping
    assert shaping.features == ["OT"] and shaping.target == "OT", "an ETTh1 preset on OT"
    features = 1 + (len(CALENDAR_COLUMNS) if shaping.calendar else 0)  # OT, then the calendar
    residual = run.model_settings.get("residual", False)
    shape = SeriesShape(
        num_features=features,
        window=len(range(0, shaping.lookback, shaping.step)),
        target_index=0,
        absolute_features=tuple(range(1, features)) if residual else (),  # as the pipeline's
    )
    model = get_model(run.model, run.task).make(shape, run.model_settings)
    train = run.train
    task = make_task(
        "regression",
        loss=train.loss,
        huber_delta=train.huber_delta,
        final_weight=train.final_weight,
        members=len(members_of(model)),
    )
    return model, task, shape, run


def every_step_computed(model):
    """``model`` with its TCN (the ensemble's TCN member, if it is one) computing every step."""
    if not isinstance(model, Ensemble):
        return FullForward(model)
    tcn, *others = model.members
    return Ensemble([FullForward(tcn), *others])


def cpu_seconds_per_step(model, task, x, y, steps: int, run) -> float:
    train = run.train
    optimizer = make_optimizer(train.optimizer, model.parameters(), train.lr, train.weight_decay)
    began = time.process_time()
    for _ in range(steps):
        loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.process_time() - began) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tcn, tcn_task, tcn_shape, tcn_run = preset_model("etth1-tcn")
    gru, gru_task, gru_shape, gru_run = preset_model("etth1-cnn-gru")
    batch = tcn_run.train.batch_size
    assert gru_run.train.batch_size == batch and gru_shape.window == tcn_shape.window
    models = {
        "etth1-cnn-gru": (gru.train(), gru_task, gru_shape, gru_run),
        "etth1-tcn": (tcn.train(), tcn_task, tcn_shape, tcn_run),
        "etth1-tcn, every step computed": (
            every_step_computed(tcn).train(),
            tcn_task,
            tcn_shape,
            tcn_run,
        ),
    }
    y = torch.randn(batch)
    inputs = {
        name: torch.randn(batch, shape.window, shape.num_features)
        for name, (_, _, shape, _) in models.items()
    }
    length = tcn_shape.window
    times: dict[str, list[float]] = {name: [] for name in models}
    for name, (model, task, _, preset) in models.items():  # warm-up
        cpu_seconds_per_step(model, task, inputs[name], y, 2, preset)
    for _ in range(args.repeats):
        for name, (model, task, _, preset) in models.items():
            seconds = cpu_seconds_per_step(model, task, inputs[name], y, args.steps, preset)
            times[name].append(seconds)
    best = {name: min(values) for name, values in times.items()}
    print(f"torch {torch.__version__}, 1 thread, batch {batch} x {length} steps, CPU ms per step")
    for name, seconds in best.items():
        print(f"  {name:34s} {seconds * 1e3:7.1f} ms ({seconds / best['etth1-cnn-gru']:.2f}x)")
    faster = best["etth1-tcn"] < best["etth1-cnn-gru"]
    print("etth1-tcn is " + ("faster" if faster else "NOT faster") + " than etth1-cnn-gru")
    return 0 if faster else 1


if __name__ == "__main__":
    sys.exit(main())
