import tarfile

import pytest

from convseq.data.imdb import IMDB, load_imdb, read_imdb_tarball
from convseq.data.locate import RemoteFile, locate
from convseq.errors import UserError
from tests.conftest import write_imdb_tarball


def test_reads_official_layout_with_labels_from_folders(imdb_dir):
    data = read_imdb_tarball(imdb_dir / "aclImdb_v1.tar.gz")
    assert len(data.train) == 16 and len(data.test) == 16
    assert sum(data.train.labels) == 8
    for text, label in zip(data.train.texts, data.train.labels, strict=True):
        assert ("terrible" in text or "awful" in text or "bad" in text) == (label == 0)
    assert data.unsup == []


def test_reads_unsupervised_reviews_on_request(imdb_dir):
    data = read_imdb_tarball(imdb_dir / "aclImdb_v1.tar.gz", with_unsup=True)
    assert data.unsup == ["unlabelled review"]


def test_explicit_dir_then_env_then_cache(tmp_path, monkeypatch, imdb_dir):
    assert locate(IMDB, imdb_dir) == imdb_dir / IMDB.name
    monkeypatch.setenv("CONVSEQ_DATA", str(imdb_dir))
    assert locate(IMDB, None) == imdb_dir / IMDB.name
    monkeypatch.delenv("CONVSEQ_DATA")
    cache = tmp_path / "cache"
    cache.mkdir()
    write_imdb_tarball(cache / IMDB.name)
    assert locate(IMDB, None) == cache / IMDB.name


def test_download_is_verified_and_written_atomically(tmp_path, monkeypatch):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"hello world")
    good = RemoteFile(
        "f.bin",
        source.as_uri(),
        size=11,
        sha256="b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    )
    assert locate(good, None).read_bytes() == b"hello world"
    bad = RemoteFile("g.bin", source.as_uri(), size=11, sha256="0" * 64)
    with pytest.raises(UserError, match="sha256"):
        locate(bad, None)
    assert not any((tmp_path / "cache").glob("*g.bin*"))  # nothing half-written left


def test_corrupt_tarball_is_a_user_error(tmp_path):
    broken = tmp_path / "aclImdb_v1.tar.gz"
    good = write_imdb_tarball(tmp_path / "good.tar.gz")
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match="not a readable IMDB tarball"):
        read_imdb_tarball(broken)


def test_tarball_without_reviews_is_refused(tmp_path):
    path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(UserError, match="no aclImdb/train"):
        load_imdb(tmp_path)


def test_split_imdb_holds_out_the_end_of_a_seeded_shuffle(imdb_dir):
    from convseq.data.imdb import split_imdb

    data = read_imdb_tarball(imdb_dir / "aclImdb_v1.tar.gz")
    train, val, test = split_imdb(data, 0.25, 0, seed=0)
    assert (len(train), len(val), len(test)) == (12, 4, 16)
    pairs = sorted(zip(train.texts + val.texts, train.labels + val.labels, strict=True))
    assert pairs == sorted(zip(data.train.texts, data.train.labels, strict=True))  # a partition
    assert test.texts == data.test.texts  # no limit: the whole official test set
    again = split_imdb(data, 0.25, 0, seed=0)
    assert again[1].texts == val.texts  # the tools that rescore a run hold out the same reviews
    assert split_imdb(data, 0.25, 0, seed=1)[1].texts != val.texts
    train, val, test = split_imdb(data, 0.25, 8, seed=0)
    assert (len(train), len(val), len(test)) == (6, 2, 8)
    assert set(test.texts) <= set(data.test.texts)
    with pytest.raises(UserError, match="too few for a 0.25 validation split"):
        split_imdb(data, 0.25, 1, seed=0)


def test_ratings_come_from_the_file_names_as_eight_classes(imdb_dir):
    from convseq.data.imdb import LABELS, RATINGS

    data = read_imdb_tarball(imdb_dir / "aclImdb_v1.tar.gz", labels="rating")
    sentiment = read_imdb_tarball(imdb_dir / "aclImdb_v1.tar.gz")
    assert len(LABELS["rating"]) == 8 and LABELS["rating"][0] == "1 stars"
    assert sorted(set(data.train.labels)) == list(range(8))  # the fixture names 1-4 and 7-10
    by_text = dict(zip(sentiment.train.texts, sentiment.train.labels, strict=True))
    for text, label in zip(data.train.texts, data.train.labels, strict=True):
        assert (RATINGS[label] >= 7) == (by_text[text] == 1)  # stars agree with the folder


def test_a_rating_that_imdb_does_not_label_is_refused(tmp_path):
    import io

    path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name in ("aclImdb/train/pos/0_7.txt", "aclImdb/test/neg/0_5.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            archive.addfile(info, io.BytesIO(b"text"))
    with pytest.raises(UserError, match="0_5.txt: a rating of 5 stars"):
        read_imdb_tarball(path, labels="rating")
