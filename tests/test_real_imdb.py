"""One short run on the real IMDB reviews; skipped only when the tarball is absent."""

import json

import pytest

from convseq.cli import main
from tests.conftest import SHARED_DATA

TARBALL = SHARED_DATA / "aclImdb_v1.tar.gz"


@pytest.mark.skipif(not TARBALL.exists(), reason=f"real IMDB tarball not found at {TARBALL}")
def test_one_epoch_on_5000_reviews_reaches_075(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "imdb-cnn",
                "--data-dir",
                str(SHARED_DATA),
                "--limit",
                "5000",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_val_acc"] >= 0.75
