"""The package's shape: no import cycles, and a library that leaves the process as it found it."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import convseq

SRC = Path(convseq.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(include_local: bool) -> dict[str, set[str]]:
    """convseq module -> the convseq modules it imports (at module level, or anywhere)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = ast.walk(tree) if include_local else tree.body
        targets = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {resolve(t) for t in targets if t.startswith("convseq")} - {name, ""}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("include_local", [False, True], ids=["module-level", "all-imports"])
def test_no_import_cycles(include_local):
    graph = import_graph(include_local)
    assert len(graph) > 40  # the walk saw the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_and_api_change_no_process_state(tmp_path):
    """`import convseq` and training through the API leave env vars and torch threads alone."""
    script = f"""
import os, json, sys
sys.path.insert(0, {str(SRC.parents[1])!r})
import torch
layer = torch.nn.Linear(2, 1)  # torch's own first optimizer step sets TORCHINDUCTOR_CACHE_DIR:
layer(torch.ones(1, 2)).sum().backward()  # take it before the snapshot
torch.optim.Adam(layer.parameters()).step()
torch.set_num_threads(2)
import random, numpy, matplotlib
matplotlib.use("svg")
random.seed(11); numpy.random.seed(11); torch.manual_seed(11)
before_env = dict(os.environ)
before_rng = (random.getstate(), numpy.random.get_state()[1].tolist(), torch.get_rng_state())
import convseq, convseq.api
from tests.forecast_helpers import write_series
from pathlib import Path
data = write_series(Path({str(tmp_path)!r}) / "load.csv", rows=500)
convseq.train_forecast(data, time_column="time", target="load", lookback=48, step=2, delay=4,
                       epochs=1, batch_size=32, out={str(tmp_path / "run")!r})
changed = sorted(k for k in set(before_env) | set(os.environ) if before_env.get(k) != os.environ.get(k))
after_rng = (random.getstate(), numpy.random.get_state()[1].tolist(), torch.get_rng_state())
same_rng = before_rng[0] == after_rng[0] and before_rng[1] == after_rng[1] and torch.equal(before_rng[2], after_rng[2])
print(json.dumps({{"env": changed, "threads": torch.get_num_threads(),
                   "backend": matplotlib.get_backend(), "rng": same_rng}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = done.stdout.strip().splitlines()[-1]
    assert json.loads(result) == {"env": [], "threads": 2, "backend": "svg", "rng": True}


def test_the_command_sets_and_restores_threads_in_process(tmp_path, monkeypatch):
    """`main` applies --threads for its run and gives the caller's setting back."""
    import torch

    import convseq.pipelines.forecast as forecast
    from convseq.cli import main
    from tests.forecast_helpers import WINDOW, write_series

    seen = []
    real_prepare = forecast.prepare

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(forecast, "prepare", spy)
    data = write_series(tmp_path / "load.csv", rows=500)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        argv = ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load",
                *WINDOW, "--epochs", "1", "--threads", "3", "--model", "series-cnn-gru",
                "--out", str(tmp_path / "r")]  # fmt: skip
        assert main(argv) == 0
        assert seen == [3] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_process_tuning_only_in_the_command_module():
    """Process-wide calls appear in cli.py alone (a library must not make them)."""
    calls = {
        "set_num_threads": r"set_num_threads\(",
        "mallopt": r"mallopt\(",
        "environment write": r"os\.environ\[[^]]+\]\s*=[^=]|os\.environ\.setdefault|os\.putenv",
    }
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name, pattern in calls.items():
            if re.search(pattern, text) and path.name != "cli.py":
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    allowed = {"training/shards.py: set_num_threads"}  # per-thread, restored (issue 15 revisits)
    assert set(offenders) <= allowed, offenders
