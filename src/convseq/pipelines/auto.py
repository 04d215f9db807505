"""``--model auto``: strong, different models trained within a time budget; the best one on
validation, or the average of the best ones where that scores better on validation.

Each candidate is a whole run of the task's pipeline, in ``candidates/MODEL`` of
the run folder, with its own model and training settings (the table below) and
the user's data settings. The data settings are shared, so every candidate
reads the same inputs and their outputs can be averaged: the text pipeline
fixes ``--max-len 0`` on the first candidate, and the others take its length.
The budget is shared out as candidates start: each may use the time left
divided by the candidates still to run, and its trainer stops after the epoch
that would pass that deadline (keeping its best epoch). Test splits are scored
for the record, never used to choose.

The run folder's own model is the choice: a copy of one candidate, or the
candidates' average (an ``Ensemble`` whose weights record its members). A
forecaster must also beat the ridge map of the target's window on validation;
when nothing does, that map is the model (``series-linear`` with its weights).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace

import torch

from convseq.config import RunConfig
from convseq.errors import ModelDoesNotFit
from convseq.evaluation import classification
from convseq.inference.load import read_weights
from convseq.models.registry import SeriesShape, build_model, get_model, rebuild
from convseq.pipelines import forecast, text
from convseq.presets import AUTO, CANDIDATES, Candidate
from convseq.runs import RunFolder, save_config
from convseq.training.tasks import make_task


# ------------------------------------------------------------------ scoring
def text_score(outputs: dict, split: str, raw: torch.Tensor | None = None) -> dict:
    """Accuracy, macro-F1, loss and the rest on ``split``, of ``raw`` or the candidate's own
    outputs; ranked by accuracy, ties by the lower loss."""
    own, truth = outputs[split]
    raw = own if raw is None else raw
    scores = classification.scores(truth, raw.numpy(), outputs["labels"], outputs["majority"])
    task = make_task("binary" if raw.ndim == 1 else "multiclass")
    target = torch.as_tensor(truth)
    scores["loss"] = task.loss(raw, target.float() if raw.ndim == 1 else target).item()
    return {**scores, "rank": (-scores["acc"], scores["loss"])}


def forecast_score(outputs: dict, split: str, raw: torch.Tensor | None = None) -> dict:
    """The normalized MAE on ``split``, of ``raw`` or the candidate's own forecasts."""
    own, truth = outputs[split]
    raw = own if raw is None else raw
    mae = float((raw - truth).abs().mean())
    return {"mae": mae, "rank": (mae,)}


def paths_score(outputs: dict, split: str, raw: torch.Tensor | None = None) -> dict:
    """``--horizon``: MSE and MAE over every step and target (of the median with quantiles),
    ranked by the MSE, or with quantiles by the pinball loss."""
    own, truth = outputs[split]
    raw = own if raw is None else raw
    task = make_task("paths", loss="mse", quantiles=outputs["quantiles"])
    scores = {k: v / len(truth) for k, v in task.batch_metrics(raw, truth).items()}
    scores["loss"] = float(task.loss(raw, truth))
    return {**scores, "rank": (scores["loss"],)}


# per kind of run: the scorer, and the score it shows (each ranks by its "rank": lower is better)
SCORING = {
    "text": (text_score, "acc"),
    "forecast": (forecast_score, "mae"),
    "paths": (paths_score, "mse"),
}
PIPELINES = {"text": text.run, "forecast": forecast.run, "paths": forecast.run}
RIDGE_SETTINGS = {"residual": True}
RIDGE_MEMBER = "ridge-nlinear"
# runs of the best candidate at most, budget allowing; one for text, whose validation split is
# drawn with the seed: another seed would be scored on other texts, and could not be averaged
SEEDS = {"text": 1, "forecast": 3, "paths": 3}
INPUT_FILES = {"text": "tokenizer.json", "forecast": "normalization.json"}


def kind_of(config: RunConfig) -> str:
    """``text``, ``forecast``, or ``paths`` for a forecaster of every step (``--horizon``)."""
    return "paths" if config.task == "forecast" and config.shaping.horizon else config.task


@dataclass
class Trained:
    """A finished candidate: its run folder, metrics, outputs and validation score."""

    model: str  # its name in reports: the model, and the seed when not the run's
    candidate: Candidate
    folder: RunFolder
    metrics: dict
    outputs: dict
    val: dict  # its scores on the validation split
    seconds: float


def run(config: RunConfig, folder: RunFolder) -> dict:
    """Train the task's candidates into ``folder/candidates``, then more seeds of the best
    while the budget lasts; choose on validation, save the choice as the run's model; the
    metrics for metrics.json."""
    began, cpu_began = time.perf_counter(), time.process_time()
    task, kind = config.task, kind_of(config)
    score, key = SCORING[kind]
    deadline = time.monotonic() + config.train.budget * 60
    candidates = CANDIDATES[kind]
    trained, skipped = [], []
    folder.file("candidates")  # the run folder and its config.json, before the candidates' folders
    for k, candidate in enumerate(candidates):
        now, waiting = time.monotonic(), len(candidates) - k
        left = max(deadline - now, 0.0)
        print(
            f"--model auto: candidate {k + 1} of {len(candidates)}, {candidate.model}, "
            f"{left / 60 / waiting:.1f} of the {left / 60:.1f} minutes left"
        )
        try:
            trained.append(train(config, candidate, folder, now + left / waiting, 0))
            config.shaping = trained[-1].folder.config.shaping  # --max-len 0: the first's length
        except ModelDoesNotFit as problem:  # windows or texts too short for it
            skipped.append((candidate.model, problem))
            print(f"--model auto: {candidate.model} skipped: {problem}")
    if not trained:  # every candidate refused the data: the first one's reason
        raise skipped[0][1]
    best = min(trained, key=lambda t: t.val["rank"])
    for seed in range(1, SEEDS[kind]):  # averaging seeds of the best cancels part of their errors
        if deadline - time.monotonic() < 1.2 * best.seconds:
            break
        print(f"--model auto: {best.candidate.model} again with seed {config.train.seed + seed}, "
              f"{(deadline - time.monotonic()) / 60:.1f} minutes left")  # fmt: skip
        trained.append(train(config, best.candidate, folder, deadline, seed))
    if folder.writer:
        save_config(folder, config)  # with the length the text pipeline chose (--max-len 0)

    if kind == "paths" and not config.train.quantiles:  # the ridge NLinear, a member like any
        trained.append(ridge_member(trained[0]))
    chosen, val = choose(trained, score)
    rows = [{"model": t.model, f"val_{key}": t.val[key], "seconds": t.seconds} for t in trained]
    if len(chosen) > 1:
        rows.append({"model": " + ".join(t.model for t in chosen), f"val_{key}": val[key],
                     "seconds": 0.0})  # fmt: skip
    print("--model auto, candidates on the validation split:")
    for row in rows:
        print(f"  {row['model']:<44} {key} {row[f'val_{key}']:.4f}  {row['seconds']:7.1f} s")
    ridge = False
    if kind == "forecast":
        ridge_val = trained[0].metrics["ridge_baseline_val_mae"]
        print(f"  {'ridge map of the target window':<44} {key} {ridge_val:.4f}")
        ridge = ridge_val <= val["mae"]
        if ridge:
            print("no candidate beats the ridge map on validation: the ridge map is the model")
    name = "ridge map (series-linear)" if ridge else " + ".join(t.model for t in chosen)
    print(f"chosen on validation: {name}")
    shutil.copyfile(trained[0].folder.path / INPUT_FILES[task], folder.file(INPUT_FILES[task]))
    curves = next((t.folder.path / "curves.png" for t in chosen if t.folder), None)
    if curves and curves.exists():  # the best trained candidate's training curves
        shutil.copyfile(curves, folder.file("curves.png"))
    model = save_ridge(folder, trained[0]) if ridge else save_choice(folder, chosen)
    if "draw" in trained[0].outputs and folder.writer:  # forecast.png of the choice
        trained[0].outputs["draw"](model, folder.file("forecast.png"), f"auto ({name})")
    finish = {"text": finish_text, "forecast": finish_forecast, "paths": finish_paths}[kind]
    members = [] if ridge else chosen
    metrics = finish(config, folder, trained, members)
    metrics.update(
        model=AUTO,
        skipped={model: str(problem) for model, problem in skipped},
        chosen=name,
        candidates=rows,
        params=sum(t.metrics["params"] for t in members)
        if members
        else trained[0].outputs["ridge_weights"].size,
        total_seconds=round(time.perf_counter() - began, 1),
        cpu_seconds=round(time.process_time() - cpu_began, 1),
        budget_minutes=config.train.budget,
    )
    return metrics


def train(config: RunConfig, candidate: Candidate, folder: RunFolder, deadline: float, seed: int):
    """One candidate as a whole run in ``folder/candidates``, with ``seed`` added to the run's."""
    name = candidate.model + (f"-seed{config.train.seed + seed}" if seed else "")
    own = candidate_config(config, candidate, config.shaping, deadline)
    own.train = own.train.with_changes(seed=config.train.seed + seed)
    sub = RunFolder(folder.path / "candidates" / name, own, writer=folder.writer)
    outputs: dict = {}
    start = time.perf_counter()
    try:
        metrics = PIPELINES[config.task](own, sub, outputs)
    except BaseException:
        sub.discard()  # a candidate that failed before it trained leaves no folder
        raise
    finally:
        sub.close()
    seconds = round(time.perf_counter() - start, 1)
    metrics.update(candidate_of=str(folder.path), total_seconds=seconds)
    if folder.writer:
        sub.finish(metrics)
    val = SCORING[kind_of(config)][0](outputs, "val")
    return Trained(name, candidate, sub, metrics, outputs, val, seconds)


def ridge_member(first: Trained) -> Trained:
    """The ridge NLinear of the run (fitted in seconds by every candidate's pipeline) as a
    candidate without a folder: its forecasts, and its weights as a ``series-nlinear``."""
    outputs = dict(first.outputs)
    for split in ("val", "test"):
        outputs[split] = (outputs["ridge"](split), first.outputs[split][1])
    metrics = {"params": int(outputs["ridge_weights"].size)}
    val = paths_score(outputs, "val")
    return Trained(RIDGE_MEMBER, Candidate("series-nlinear"), None, metrics, outputs, val, 0.0)


def candidate_config(config: RunConfig, candidate: Candidate, shaping, deadline: float):
    """The candidate's run: its model and recipe, the user's data and other settings."""
    entry = get_model(candidate.model, config.task)
    settings = entry.settings(candidate.settings)
    fixed = config.model_settings.get("fixed_training", [])
    recipe = {k: v for k, v in candidate.train.items() if k not in fixed}
    return replace(
        config,
        model=candidate.model,
        model_settings=settings,
        shaping=shaping,
        train=config.train.with_changes(**recipe),
        deadline=deadline,
    )


def choose(trained: list[Trained], score) -> tuple[list[Trained], dict]:
    """The best candidate on validation, then, one at a time, the candidate whose addition to
    the average scores best on validation, while that improves it (greedy forward selection:
    a strong model of another kind can join before a second seed of the first)."""
    ranked = sorted(trained, key=lambda t: t.val["rank"])
    chosen, best = ranked[:1], ranked[0].val
    if not same_inputs(trained):
        return chosen, best
    while True:
        others = [t for t in ranked if t not in chosen]
        trials = [
            (score(ranked[0].outputs, "val", average([*chosen, t], "val")), t) for t in others
        ]
        if not trials:
            return chosen, best
        val, pick = min(trials, key=lambda trial: trial[0]["rank"])
        if val["rank"] >= best["rank"]:
            return chosen, best
        chosen, best = [*chosen, pick], val


def average(members: list[Trained], split: str) -> torch.Tensor:
    """The members' mean raw output on ``split``: what their ``Ensemble`` predicts."""
    return torch.stack([t.outputs[split][0] for t in members]).mean(dim=0)


def same_inputs(trained: list[Trained]) -> bool:
    """Whether every candidate turned the data into the same inputs, so they can be averaged
    (the ridge member reads the first candidate's)."""
    runs = [t for t in trained if t.folder is not None]
    name = INPUT_FILES[runs[0].folder.config.task]
    first = (runs[0].folder.path / name).read_bytes()
    return all((t.folder.path / name).read_bytes() == first for t in runs[1:])


# ------------------------------------------------------------------- saving
def save_choice(folder: RunFolder, chosen: list[Trained]) -> torch.nn.Module:
    """The run's model.safetensors: the chosen candidate's, or the chosen candidates' average
    (its metadata records each member, which ``rebuild`` reads); the model saved."""
    weights = [read_weights(t.folder) if t.folder else ridge_weights(t) for t in chosen]
    if len(chosen) == 1:
        model = rebuild(weights[0][1])
        model.load_state_dict(weights[0][0])
        if chosen[0].folder is not None:
            path = chosen[0].folder.path / "model.safetensors"
            shutil.copyfile(path, folder.file("model.safetensors"))
        else:  # the ridge NLinear alone
            folder.save_weights(model, weights[0][1])
        return model
    keys = ("model", "shape", "settings", "calibrated")  # what rebuild reads
    members = [{k: meta[k] for k in keys if k in meta} for _, meta in weights]
    model = rebuild({"members": members})
    model.load_state_dict(
        {f"members.{i}.{name}": v for i, (w, _) in enumerate(weights) for name, v in w.items()}
    )
    shared = {k: v for k, v in weights[0][1].items() if k not in ("convseq", "run_format")}
    folder.save_weights(model, {**shared, "model": "average", "members": members})
    return model


def ridge_weights(member: Trained) -> tuple[dict, dict]:
    """The ridge NLinear member's state dict and record: a ``series-nlinear`` on the run's
    shape whose map is the ridge's, W [L, H] as Linear(L, H), no bias."""
    shape = member.outputs["shape"]
    with torch.random.fork_rng(devices=[]):  # initial weights, replaced below
        model = build_model("series-nlinear", SeriesShape(**shape))
    with torch.no_grad():
        model.net.linear.weight.copy_(torch.as_tensor(member.outputs["ridge_weights"]).T)
        model.net.linear.bias.zero_()
    return model.state_dict(), {"model": "series-nlinear", "shape": shape, "settings": {}}


def ridge_model(shape: SeriesShape, weights) -> torch.nn.Module:
    """The ridge map of the target's window as a ``series-linear`` model: its weights on the
    target's column, zero on the others, no bias, reading the window relative to its last row."""
    model = build_model("series-linear", shape, RIDGE_SETTINGS)
    weights = torch.as_tensor(weights, dtype=torch.float32)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.zero_()
        columns = torch.arange(len(weights)) * shape.num_features + shape.target_index
        model.linear.weight[0, columns] = weights
    return model


def save_ridge(folder: RunFolder, first: Trained) -> torch.nn.Module:
    shape = first.outputs["shape"]
    model = ridge_model(SeriesShape(**shape), first.outputs["ridge_weights"])
    folder.save_weights(
        model, {"model": "series-linear", "shape": shape, "settings": RIDGE_SETTINGS}
    )
    return model


# ------------------------------------------------------------------ metrics
CANDIDATE_ONLY = ("candidate_of", "best_epoch", "epochs_run", "seconds_per_epoch", "monitor",
                  "val_coverage_uncalibrated", "val_coverage_calibrated",
                  "weights_sha256", "pretrain_seconds")  # fmt: skip


def finish_text(config, folder: RunFolder, trained: list[Trained], chosen: list[Trained]) -> dict:
    """The choice's metrics on the validation and test splits, as a text run reports them."""
    given = chosen[0].outputs
    metrics = {k: v for k, v in chosen[0].metrics.items() if k not in CANDIDATE_ONLY}
    metrics.update(experiment=config.preset, dataset=config.dataset)
    for split in ("val", "test"):
        if split not in given:
            continue
        raw = average(chosen, split)
        scores = text_score(given, split, raw)
        loss = scores["loss"]
        metrics.update(classification.split_metrics(split, scores))
        if split == "val":
            metrics.update(best_val_acc=scores["acc"], best_val_loss=loss)
        else:
            metrics.update(test_acc=scores["acc"], test_loss=loss)
        print(classification.split_line(split, scores))
    classification.plot_last_confusion(
        metrics, given["labels"], folder.file("confusion.png"), config.dataset
    )
    return metrics


def finish_forecast(config, folder: RunFolder, trained: list[Trained], chosen: list[Trained]):
    """The choice's MAE on the validation and test splits, beside the baselines."""
    first = trained[0]
    metrics = {k: v for k, v in first.metrics.items() if k not in CANDIDATE_ONLY}
    scale, units = first.outputs["scale"], metrics.get("units", "")
    metrics.update(experiment=config.preset, dataset=config.dataset)
    for split, label, name in (("val", "validation", "best_val_mae"), ("test", "test", "test_mae")):
        if chosen:
            mae = forecast_score(first.outputs, split, average(chosen, split))["mae"]
        else:
            mae = metrics[f"ridge_baseline_{split}_mae"]
        metrics.update({name: mae, f"{name}_units": mae * scale})
        base = metrics[f"baseline_{split}_mae"]
        print(forecast.versus_baseline(label, mae, base, scale, units))
    return metrics


def finish_paths(config, folder: RunFolder, trained: list[Trained], chosen: list[Trained]):
    """``--horizon``: the choice's MSE and MAE (and interval) on validation and test, beside the
    baselines, and each target's test MAE in its units."""
    first = trained[0]
    metrics = {k: v for k, v in first.metrics.items() if k not in CANDIDATE_ONLY}
    metrics.update(experiment=config.preset, dataset=config.dataset)
    for split, name in (("val", "best_val"), ("test", "test")):
        scores = paths_score(first.outputs, split, average(chosen, split))
        metrics.update({f"{name}_{m}": v for m, v in scores.items() if m not in ("rank", "loss")})
    raw, truth = average(chosen, "test"), first.outputs["test"][1]
    task = make_task("paths", quantiles=first.outputs["quantiles"])
    maes = task.target_error_sums(raw, truth) / (truth.shape[0] * truth.shape[1])
    units = maes.numpy() * first.outputs["target_std"]
    metrics["test_mae_by_target"] = dict(
        zip(first.outputs["target_names"], units.tolist(), strict=True)
    )
    for label, split in (("validation", "val"), ("test", "test")):
        print(forecast.paths_line(label, metrics, split))
    return metrics
