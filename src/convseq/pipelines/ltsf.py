"""The long-horizon benchmark: every model at every horizon, chosen on validation, one table.

Per horizon H: the closed-form ridge NLinear (its penalty and lookback chosen
on validation), the last value repeated, NLinear and DLinear trained with the
benchmark's recipes, the patch convnet (every trained model: one run per
seed, its forecast the mean of the seeds') and the convnet blended with the
ridge (weight on a 0.05 grid chosen on validation; 0 and 1 are the members
alone). Test windows are scored once and never used
to choose. With quantiles the convnet is trained with the pinball loss, its
median is its point forecast, and the interval's coverage is reported.

The output folder gets ``table.md``, ``table.csv`` and ``results.json``,
each written atomically, once every run has finished.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from convseq.atomic import write_json, write_text
from convseq.data.ltsf import Splits, Table, cut, load_table
from convseq.errors import UserError, closest
from convseq.evaluation.ltsf_scores import blend, blend_weight, mse_mae, quantile_scores
from convseq.evaluation.ltsf_table import (
    ANCHOR_SOURCE,
    Row,
    anchor,
    csv_text,
    details,
    markdown,
    quantile_lines,
)
from convseq.evaluation.ridge_nlinear import fit_best_lookback, predict_ridge
from convseq.models.calibrated import conformal_margins, moved
from convseq.models.ltsf import BENCHMARK_MODELS, build_model
from convseq.models.registry import get_model
from convseq.training.ltsf import fit, predict, recipe
from convseq.version import __version__

MODELS = ("ridge", "repeat", "nlinear", "dlinear", "conv", "conv+ridge", "tcn")
DEFAULT_MODELS = MODELS[:6]  # tcn: the patch net with convseq's TCN as mixer, on request
DROP_LAST_BATCH = {"etth1": 32, "weather": 16}  # the benchmark's test batch size


@dataclass
class BenchmarkSettings:
    """What to run. ``ridge_lookbacks`` empty: the lookback and 512 where the file allows it."""

    dataset: str
    out: str
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    horizons: list[int] = field(default_factory=lambda: [96, 192, 336, 720])
    lookback: int = 336
    ridge_lookbacks: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [2021, 2022, 2023])
    quantiles: list[float] = field(default_factory=list)
    epochs: int = 0  # 0: the recipe's
    steps_per_epoch: int = -1  # -1: the recipe's; 0: every window
    data_dir: str | None = None


@dataclass
class Forecasts:
    """A model's validation and test forecasts at one horizon."""

    val: np.ndarray
    test: np.ndarray


def check(settings: BenchmarkSettings) -> None:
    """Refuse settings that cannot run, before any data is read."""
    for name in settings.models:
        if name not in MODELS:
            raise UserError(
                f"unknown model {name!r}{closest(name, MODELS)}; --models takes a comma list of "
                f"{', '.join(MODELS)}"
            )
    if not settings.models or not settings.horizons or not settings.seeds:
        raise UserError("--models, --horizons and --seeds each need at least one value")
    if len(set(settings.horizons)) < len(settings.horizons):
        raise UserError(f"--horizons {settings.horizons} repeats a horizon; give each once")
    if settings.epochs < 0 or settings.steps_per_epoch < -1:
        raise UserError("--epochs and --steps-per-epoch must be 0 or positive")
    if any(h < 1 for h in settings.horizons) or settings.lookback < 1:
        raise UserError("--horizons and --lookback must be positive whole numbers")
    q = settings.quantiles
    if q and (any(not 0 < v < 1 for v in q) or sorted(set(q)) != list(q) or len(q) < 2):
        raise UserError(
            f"--quantiles {','.join(map(str, q))} must be at least two increasing levels "
            "strictly between 0 and 1, e.g. 0.1,0.5,0.9"
        )
    if q and not {"conv", "conv+ridge", "tcn"} & set(settings.models):
        raise UserError("--quantiles trains the conv model's quantile head; add conv to --models")


def ridge_lookbacks(settings: BenchmarkSettings, table: Table) -> list[int]:
    """The ridge's candidate lookbacks: those given, else the lookback and 512 if it fits."""
    if settings.ridge_lookbacks:
        return list(dict.fromkeys(settings.ridge_lookbacks))
    candidates = [settings.lookback]
    try:
        for h in settings.horizons:
            cut(table, 512, h)
        candidates.append(512)
    except UserError:
        pass
    return list(dict.fromkeys(candidates))


class Benchmark:
    """One dataset's runs, horizon by horizon, each printed as one line when it ends."""

    def __init__(self, settings: BenchmarkSettings, table: Table, log: Callable[[str], None]):
        self.settings, self.table, self.log = settings, table, log
        self.variables = len(table.columns)
        self.rows: list[Row] = []
        self.drop_last = DROP_LAST_BATCH.get(table.name, 32)
        self.uses_ridge = bool({"ridge", "conv+ridge"} & set(settings.models))
        self.lookbacks = ridge_lookbacks(settings, table) if self.uses_ridge else []
        for h in settings.horizons:  # every cut is checked before anything trains
            for lookback in {settings.lookback, *self.lookbacks}:
                cut(table, lookback, h)

    def score(self, model: str, horizon: int, splits: Splits, pred: Forecasts, seconds, chosen):
        yv, yt = splits.val.targets(), splits.test.targets()
        val_mse, _ = mse_mae(pred.val, yv)
        mse, mae = mse_mae(pred.test, yt)
        dl_mse, dl_mae = mse_mae(pred.test, yt, self.drop_last)
        row = Row(model, horizon, val_mse, mse, mae, dl_mse, dl_mae, seconds, chosen)
        self.rows.append(row)
        return row

    def say(self, row: Row) -> None:
        ref = anchor(self.table.name, row.model, row.horizon)
        tail = f" [published {ref[0]:.3f}]" if ref else ""
        self.log(
            f"{self.table.name} H={row.horizon} {row.model:<10} val {row.val_mse:.4f} test MSE "
            f"{row.test_mse:.4f} MAE {row.test_mae:.4f} (drop-last {row.drop_last_mse:.4f}) "
            f"{row.chosen} {row.seconds:.1f}s{tail}"
        )

    # ------------------------------------------------------------ per model
    def ridge(self, horizon: int) -> Forecasts:
        started = time.perf_counter()
        best, fits = fit_best_lookback(partial(cut, self.table, horizon=horizon), self.lookbacks)
        splits = cut(self.table, best.lookback, horizon)
        pred = Forecasts(predict_ridge(best, splits.val), predict_ridge(best, splits.test))
        others = ", ".join(f"L={k} val {f.val_mse:.4f}" for k, f in fits.items())
        chosen = f"L={best.lookback} alpha={best.penalty:.3g} ({others})"
        row = self.score("ridge", horizon, splits, pred, time.perf_counter() - started, chosen)
        self.say(row)
        return pred

    def repeat(self, horizon: int, splits: Splits) -> Forecasts:
        started = time.perf_counter()
        model = build_model("repeat", splits.train.lookback, horizon, variables=self.variables)
        pred = Forecasts(predict(model, splits.val), predict(model, splits.test))
        self.say(self.score("repeat", horizon, splits, pred, time.perf_counter() - started, ""))
        return pred

    def settings_for(self, model: str, loss: str | None = None):
        train = recipe(model, self.table.name, loss)
        changes = {}
        if self.settings.epochs:
            changes["epochs"] = self.settings.epochs
        if self.settings.steps_per_epoch >= 0:
            changes["steps_per_epoch"] = self.settings.steps_per_epoch
        return replace(train, **changes)

    def seed_mean(self, name: str, horizon: int, splits: Splits, train, levels=()):
        """One run per seed; the mean of their validation and test forecasts, and each best epoch.

        Kept as running sums: a Weather test set at H=720 is 0.6 GB per seed."""
        val = test = None
        epochs = []
        for seed in self.settings.seeds:
            build = partial(
                build_model, name, splits.train.lookback, horizon, levels, self.variables
            )
            model, result = fit(build, splits.train, splits.val, train, seed, levels)
            pv, pt = predict(model, splits.val), predict(model, splits.test)
            if val is None:
                val, test = pv, pt
            else:
                val += pv
                test += pt
            epochs.append(result.best_epoch)
            alone = "" if levels else f" (test {mse_mae(pt, splits.test.targets())[0]:.4f})"
            self.log(  # each seed's test figure is shown, never used to choose
                f"{self.table.name} H={horizon} {name} seed {seed}: val {result.best_val:.4f}"
                f"{alone} best epoch {result.best_epoch}/{result.epochs_run} {result.seconds:.1f}s"
            )
        val /= len(epochs)
        test /= len(epochs)
        return Forecasts(val, test), epochs

    def linear(self, name: str, horizon: int, splits: Splits) -> Forecasts:
        """The mean of the seeds' forecasts: for a linear map, itself one map (the mean weights)."""
        started = time.perf_counter()
        pred, epochs = self.seed_mean(name, horizon, splits, self.settings_for(name))
        chosen = f"mean of {len(epochs)} seeds, epochs {','.join(map(str, epochs))}"
        row = self.score(name, horizon, splits, pred, time.perf_counter() - started, chosen)
        self.say(row)
        return pred

    def conv(self, horizon: int, splits: Splits, name: str = "conv") -> Forecasts:
        """The mean of the seeds' forecasts (medians, with a quantile head)."""
        started = time.perf_counter()
        levels = tuple(self.settings.quantiles)
        train = self.settings_for("conv", "pinball" if levels else None)
        mean, epochs = self.seed_mean(name, horizon, splits, train, levels)
        val, test = mean.val, mean.test
        quantiles = {}
        if levels:
            val.sort(axis=-1)  # a crossing of the levels would make the interval negative
            test.sort(axis=-1)
            quantiles = quantile_scores(test, splits.test.targets(), levels)
            middle = int(np.argmin([abs(v - 0.5) for v in levels]))
            quantiles.update(self.calibrated(val, test, splits, levels))
            val, test = val[..., middle], test[..., middle]
        pred = Forecasts(np.ascontiguousarray(val), np.ascontiguousarray(test))
        chosen = f"mean of {len(epochs)} seeds, epochs {','.join(map(str, epochs))}"
        if levels:
            chosen += f", point = q{levels[middle]:g}"
        row = self.score(name, horizon, splits, pred, time.perf_counter() - started, chosen)
        row.quantiles = quantiles
        self.say(row)
        if quantiles:
            self.log(quantile_lines([row]).strip())
        return pred

    @staticmethod
    def calibrated(val, test, splits: Splits, levels) -> dict:
        """The validation coverage, and the interval calibrated on validation as the forecasting
        runs calibrate it (``models.calibrated``: conformal margins per step and variable): the
        mean margin, and the validation and test coverage and width."""
        yv, yt = splits.val.targets(), splits.test.targets()
        margins = conformal_margins(
            torch.from_numpy(val[..., 0]),
            torch.from_numpy(val[..., -1]),
            torch.tensor(yv),  # a copy: the targets are a read-only view of the table
            levels[-1] - levels[0],
        )
        on_val = quantile_scores(moved(torch.from_numpy(val), margins).numpy(), yv, levels)
        on_test = quantile_scores(moved(torch.from_numpy(test), margins).numpy(), yt, levels)
        return {
            "val_coverage": quantile_scores(val, yv, levels)["coverage"],
            "calibrated": {
                "mean_margin": float(margins.mean()),
                "val_coverage": on_val["coverage"],
                "coverage": on_test["coverage"],
                "mean_width": on_test["mean_width"],
            },
        }

    def conv_ridge(self, horizon: int, splits: Splits, conv: Forecasts, ridge: Forecasts):
        weight = blend_weight(conv.val, ridge.val, splits.val.targets())
        pred = Forecasts(blend(conv.val, ridge.val, weight), blend(conv.test, ridge.test, weight))
        row = self.score("conv+ridge", horizon, splits, pred, 0.0, f"w_conv={weight:.2f}")
        self.say(row)

    # ------------------------------------------------------------ per horizon
    def horizon(self, horizon: int) -> None:
        wanted = set(self.settings.models)
        splits = cut(self.table, self.settings.lookback, horizon)
        ridge = self.ridge(horizon) if self.uses_ridge else None
        if "repeat" in wanted:
            self.repeat(horizon, splits)
        for name in ("nlinear", "dlinear"):
            if name in wanted:
                self.linear(name, horizon, splits)
        if wanted & {"conv", "conv+ridge"}:
            conv = self.conv(horizon, splits)
            if "conv+ridge" in wanted:
                self.conv_ridge(horizon, splits, conv, ridge)
        if "tcn" in wanted:
            self.conv(horizon, splits, "tcn")


def run_benchmark(settings: BenchmarkSettings, log: Callable[[str], None] = print) -> dict:
    """Run the benchmark of ``settings`` and write its table; returns what ``results.json`` holds."""
    check(settings)
    table = load_table(settings.dataset, settings.data_dir)
    bench = Benchmark(settings, table, log)
    log(
        f"{table.source}: {len(table.values):,} rows x {len(table.columns)} variables, "
        f"lookback {settings.lookback}, seeds {','.join(map(str, settings.seeds))}"
        + (f", ridge lookbacks {','.join(map(str, bench.lookbacks))}" if bench.uses_ridge else "")
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    for done, horizon in enumerate(settings.horizons, 1):
        bench.horizon(horizon)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        finished = done == len(settings.horizons)
        # rewritten after every horizon, so a stopped run keeps the horizons it finished
        results = write_outputs(settings, table, bench.rows, wall, cpu, finished)
    log(f"total {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU; table in {settings.out}/table.md")
    return results


def write_outputs(
    settings, table: Table, rows: list[Row], wall: float, cpu: float, finished
) -> dict:
    """table.md, table.csv and results.json in ``settings.out``, each atomically."""
    out = Path(settings.out)
    shown = [m for m in MODELS if m in settings.models]
    horizons = sorted({r.horizon for r in rows}, key=settings.horizons.index)
    status = "" if finished else f" **Unfinished: horizons {', '.join(map(str, horizons))} only.**"
    note = (
        f"# LTSF benchmark: {table.name}\n\nTest MSE / MAE on standardized values over all test "
        f"windows, lookback {settings.lookback}, {torch.get_num_threads()} torch thread(s). "
        f"Total {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU.{status} Published rows: "
        f"{ANCHOR_SOURCE}.\n\n"
    )
    text = note + markdown(table.name, rows, shown, horizons) + "\n## Runs\n\n"
    text += details(rows) + (
        "\n## Quantiles\n\n" + quantile_lines(rows) if settings.quantiles else ""
    )
    write_text(out / "table.md", text)
    write_text(out / "table.csv", csv_text(table.name, rows, shown, horizons))
    results = {
        "settings": asdict(settings),
        "dataset": table.name,
        "source": table.source,
        "columns": table.columns,
        "rows": [asdict(r) for r in rows],
        "models": {name: get_model(BENCHMARK_MODELS[name]).defaults for name in BENCHMARK_MODELS},
        "finished": finished,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "convseq": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    write_json(out / "results.json", json.loads(json.dumps(results, default=float)))
    return results
