"""Where bf16 autocast pays on this CPU: the products convseq's models spend their time in,
timed in fp32 and under ``torch.autocast("cpu", torch.bfloat16)``, side by side.

    python benchmarks/bf16_cpu.py [--repeats 20] [--threads 0]

Intel Xeons with AMX units multiply bf16 matrices far faster than fp32;
AVX-512 machines with only the bf16 dot-product instructions gain less.
Each line is one forward and backward pass of one piece, fp32 and bf16
taking turns ``--repeats`` times: the medians, and the median of the
per-pair speed-ups. ``lscpu`` flags are printed so the figures can be placed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F

from convseq.models.registry import SeriesShape, TextShape, build_model


def cpu_flags() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "lscpu not available"
    model = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if "Model name" in line), "?"
    )
    flags = next((line for line in text.splitlines() if line.startswith("Flags")), "")
    has = [f for f in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f") if f in flags.split()]
    return f"{model}; {', '.join(has) or 'no AVX-512 / AMX flags'}"


def paired(first, second, repeats: int) -> tuple[float, float, float]:
    """Median ms of each, and the median of the per-pair ratios: the two take turns, so a
    load that drifts on a shared machine hits both alike."""
    first(), second()  # warm-up
    times, ratios = ([], []), []
    for _ in range(repeats):
        pair = []
        for step, kept in ((first, times[0]), (second, times[1])):
            began = time.perf_counter()
            step()
            kept.append(time.perf_counter() - began)
            pair.append(kept[-1])
        ratios.append(pair[0] / pair[1])
    return (
        statistics.median(times[0]) * 1e3,
        statistics.median(times[1]) * 1e3,
        statistics.median(ratios),
    )


def cases():
    """(name, inputs maker, forward) for each piece measured."""
    torch.manual_seed(0)
    a, b = torch.randn(2048, 2048, requires_grad=True), torch.randn(2048, 2048)
    yield "matmul 2048 x 2048", lambda: (a @ b).sum()
    x = torch.randn(128, 14, 480, requires_grad=True)
    w = torch.randn(32, 14, 5, requires_grad=True)
    yield "conv1d 14 -> 32, k 5, 480 steps, batch 128", lambda: F.conv1d(x, w).sum()
    region = build_model("text-region-cnn", TextShape(30_000), {"pretrain_epochs": 1})
    ids = torch.randint(1, 30_000, (100, 400))
    yield (
        "text-region-cnn (regions 2+3, 400 ch, context 200), batch 100 x 400",
        lambda: region(ids).sum(),
    )
    bag = build_model("text-ngram-bag", TextShape(30_000))
    yield "text-ngram-bag (4.2 M buckets), batch 100 x 400", lambda: bag(ids).sum()
    gru = build_model("series-cnn-gru", SeriesShape(14, 480), {"residual": False})
    windows = torch.randn(128, 480, 14)
    yield "series-cnn-gru (GRU 32, recurrent dropout), batch 128 x 480", lambda: gru(windows).sum()
    tcn = build_model("series-tcn", SeriesShape(5, 240), {"linear_member": True})
    series = torch.randn(128, 240, 5)
    yield "series-tcn + linear member, batch 128 x 240", lambda: tcn(series).sum()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # a benchmark is a command line: it may set this
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: {cpu_flags()}")
    for name, forward in cases():

        def step(dtype, forward=forward):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                loss = forward()
            loss.float().backward()

        fp32, bf16, ratio = paired(lambda: step("fp32"), lambda: step("bf16"), args.repeats)
        print(f"{name:66s} fp32 {fp32:8.1f} ms | bf16 {bf16:8.1f} ms | {ratio:4.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
