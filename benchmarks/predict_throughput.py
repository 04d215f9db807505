"""End-to-end prediction throughput on the 25,000 IMDB test reviews (target: >= 5,000 reviews/s).

    python benchmarks/predict_throughput.py [--run RUN_DIR] [--data-dir DIR] [--repeats 3]

Without ``--run`` it first trains a quick imdb-cnn run (1 epoch on 2,000
reviews; speed does not depend on accuracy). The timed part is the whole
``convseq predict RUN_DIR reviews.txt --output preds.csv`` in this process:
load the run, read the file, tokenize, forward, write the CSV. It also times
the stages alone, with the plain ``tokenizers`` encoding and the plain model
forward next to the fast ones, and exits non-zero when the median misses the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the convseq command, before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from convseq.cli import keep_freed_memory, torch_threads  # noqa: E402
from convseq.cli import main as convseq_main  # noqa: E402
from convseq.data.imdb import load_imdb  # noqa: E402
from convseq.data.tokenize import encode  # noqa: E402
from convseq.inference.load import load_run  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def seconds(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an imdb-cnn run folder (default: train a quick one)")
    parser.add_argument("--data-dir", default=str(SHARED), help="folder with aclImdb_v1.tar.gz")
    parser.add_argument("--texts", type=int, default=25_000, help="test reviews to predict")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--target", type=float, default=5_000, help="reviews/s the median must reach"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="judge reviews per CPU-second instead of per wall second (on a machine busy with "
        "other work; a lower bound of what one idle core achieves)",
    )
    args = parser.parse_args()
    keep_freed_memory()  # as the convseq command does

    work = Path(tempfile.mkdtemp(prefix="convseq-predict-bench-"))
    run_dir = args.run
    if run_dir is None:
        run_dir = str(work / "imdb-cnn")
        print("training a quick imdb-cnn run (1 epoch, 2,000 reviews) ...", flush=True)
        trained = convseq_main(
            ["run", "imdb-cnn", "--data-dir", args.data_dir, "--limit", "2000", "--epochs", "1",
             "--out", run_dir]
        )  # fmt: skip
        if trained:
            return trained  # convseq said why on stderr
    reviews = load_imdb(args.data_dir).test.texts[: args.texts]
    if any("\n" in r for r in reviews):
        raise SystemExit("a review holds a newline; the one-per-line file would split it")
    source = work / "reviews.txt"
    source.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    output = work / "predictions.csv"

    print(
        f"{len(reviews)} reviews, {source.stat().st_size / 1e6:.1f} MB, torch threads "
        f"{torch.get_num_threads()}, run {run_dir}"
    )
    command = ["predict", run_dir, str(source), "--output", str(output)]
    command += ["--batch-size", str(args.batch_size)]
    convseq_main(command)  # warm-up: imports, page cache
    rates, cpu_rates = [], []
    for repeat in range(args.repeats):
        cpu = time.process_time()
        elapsed = seconds(lambda: convseq_main(command))
        cpu = time.process_time() - cpu
        rates.append(len(reviews) / elapsed)
        cpu_rates.append(len(reviews) / cpu)
        print(
            f"end to end, repeat {repeat + 1}: {elapsed:.2f} s = {rates[-1]:,.0f} reviews/s "
            f"(CPU time {cpu:.2f} s, {cpu / elapsed:.2f} cores busy)"
        )
    lines = output.read_text().splitlines()
    assert len(lines) == len(reviews) + 1, "one prediction per review"

    classifier = load_run(run_dir)
    sample = reviews[:5000]
    fast_encode = seconds(lambda: classifier.encode(sample))
    plain_encode = seconds(
        lambda: encode(
            classifier.tokenizer,
            sample,
            classifier.max_len,
            classifier.truncating,
            classifier.padding,
        )
    )
    ids = classifier.encode(sample)
    assert np.array_equal(
        ids, encode(classifier.tokenizer, sample, classifier.max_len, "pre", "pre")
    ), "fast encoding must equal the tokenizer's"
    with torch_threads(1):  # as `convseq predict` runs the model (--threads 1)
        folded = seconds(lambda: classifier.logits_of_ids(ids, args.batch_size))
    with torch.inference_mode(), torch_threads(1):
        plain = seconds(
            lambda: [
                classifier.model(torch.from_numpy(ids[i : i + args.batch_size]))
                for i in range(0, len(ids), args.batch_size)
            ]
        )
    n = len(sample)
    print(
        f"stages on {n} reviews: encode {n / fast_encode:,.0f}/s (tokenizers' own encode "
        f"{n / plain_encode:,.0f}/s, x{plain_encode / fast_encode:.1f}); forward "
        f"{n / folded:,.0f}/s (plain model {n / plain:,.0f}/s, x{plain / folded:.1f}; one thread; folded: "
        f"{classifier.folded is not None})"
    )
    median, cpu_median = statistics.median(rates), statistics.median(cpu_rates)
    judged = cpu_median if args.cpu_time else median
    verdict = "PASS" if judged >= args.target else "FAIL"
    print(
        f"{verdict}: median {median:,.0f} reviews/s end to end, {cpu_median:,.0f} reviews per "
        f"CPU-second (target {args.target:,.0f}, judged on {'CPU' if args.cpu_time else 'wall'} time)"
    )
    return 0 if judged >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
