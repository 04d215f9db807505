"""The region-embedding convnet equals a convolution over one-hot words."""

import pytest
import torch
import torch.nn.functional as F

from convseq.errors import UserError
from convseq.models import TextShape, build_model
from convseq.models.region import RegionCNN, RegionEmbedding
from convseq.models.summary import summarize

VOCAB = 12
SHAPE = TextShape(vocab_size=VOCAB)


def one_hot_conv(region: RegionEmbedding, ids: torch.Tensor) -> torch.Tensor:
    """The same layer written as Conv1d over one-hot vectors (padding id 0 -> zero vector)."""
    k = region.size
    table = region.table.weight[: k * VOCAB].detach()
    kernel = table.view(k, VOCAB, -1).permute(2, 1, 0)  # (channels, vocab, k)
    one_hot = F.one_hot(ids, VOCAB).float()
    one_hot[ids == 0] = 0.0
    left = (k - 1) // 2
    x = F.pad(one_hot.transpose(1, 2), (left, k - 1 - left))
    return (F.conv1d(x, kernel) + region.bias.detach()[:, None]).transpose(1, 2)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_region_embedding_is_a_convolution_over_one_hot_words(size):
    torch.manual_seed(0)
    region = RegionEmbedding(VOCAB, size, 6, padding_id=0, sparse=False)
    with torch.no_grad():
        region.bias.normal_()
    ids = torch.randint(0, VOCAB, (4, 9))
    ids[0, :3] = 0  # padding in front
    assert torch.allclose(region(ids), one_hot_conv(region, ids), atol=1e-6)


def test_output_ignores_padding_and_batch_company():
    torch.manual_seed(0)
    model = build_model("text-region-cnn", SHAPE, {"region_sizes": [2, 3], "channels": 8}).eval()
    review = torch.randint(1, VOCAB, (1, 7))
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), review], dim=1)
    other = torch.randint(1, VOCAB, (1, 12))
    with torch.no_grad():
        alone = model(review)
        assert torch.allclose(alone, model(padded), atol=1e-6)
        assert torch.allclose(alone, model(torch.cat([padded, other]))[:1], atol=1e-6)


def test_gradients_are_sparse_and_touch_only_used_words():
    settings = {"region_sizes": [3], "channels": 4, "pool": "maxmean"}
    model = build_model("text-region-cnn", SHAPE, settings)
    ids = torch.tensor([[0, 0, 3, 4, 5]])
    model(ids).sum().backward()
    grad = model.regions[0].table.weight.grad
    assert grad.is_sparse
    rows = set(grad.coalesce().indices()[0].tolist())
    # word w in region slot j lives at row j * VOCAB + w; padding maps to the blank row
    allowed = {j * VOCAB + w for j in range(3) for w in (3, 4, 5)} | {3 * VOCAB}
    assert rows and rows <= allowed


@pytest.mark.parametrize("size", [1, 2, 3])
def test_sparse_gradient_equals_the_dense_layers_and_has_one_row_per_table_row(size):
    torch.manual_seed(0)
    sparse = RegionEmbedding(VOCAB, size, 6, padding_id=0, sparse=True)
    dense = RegionEmbedding(VOCAB, size, 6, padding_id=0, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    ids = torch.randint(0, VOCAB, (5, 11))
    ids[0, :4] = 0
    weights = torch.randn(5, 11, 6)
    (sparse(ids) * weights).sum().backward()
    (dense(ids) * weights).sum().backward()
    grad = sparse.table.weight.grad
    rows = grad._indices()[0]
    assert bool((rows[1:] > rows[:-1]).all())  # distinct and increasing: no sort left to do
    assert sparse.blank not in rows.tolist()  # padding has no gradient
    assert torch.allclose(grad.to_dense(), dense.table.weight.grad, atol=1e-5)


def test_summary_and_settings_checks():
    settings = {"region_sizes": [2, 3], "channels": 5, "pool": "max"}
    model = build_model("text-region-cnn", SHAPE, settings)
    text, params = summarize(model, torch.randint(1, VOCAB, (2, 10)))
    assert "Region sizes: 2, 3 words" in text
    # two tables of size*vocab+1 rows, two biases, and a head over 2 x 5 max features
    assert params == (2 * VOCAB + 1) * 5 + (3 * VOCAB + 1) * 5 + 2 * 5 + (10 + 1)
    with pytest.raises(UserError, match="unknown pooling"):
        build_model("text-region-cnn", SHAPE, {"pool": "avg"})
    with pytest.raises(UserError, match="--region-sizes must be at least 1"):
        build_model("text-region-cnn", SHAPE, {"region_sizes": [0]})
    with pytest.raises(UserError, match="region sizes must be positive"):
        RegionCNN(VOCAB, sizes=[])


def test_word_dropout_blanks_words_only_while_training():
    torch.manual_seed(0)
    settings = {"channels": 6, "head_dropout": 0.0, "word_dropout": 0.3}
    model = build_model("text-region-cnn", SHAPE, settings)
    ids = torch.randint(1, VOCAB, (3, 20))
    torch.manual_seed(5)
    trained = model.train()(ids)
    torch.manual_seed(5)
    blanked = ids.masked_fill(torch.rand(ids.shape) < 0.3, 0)
    with torch.no_grad():
        assert torch.allclose(trained, model.eval()(blanked), atol=1e-6)
        assert not torch.allclose(model(ids), model(blanked))
        assert torch.equal(model(ids), model(ids))  # no randomness in evaluation
    with pytest.raises(UserError, match="--word-dropout must be at least 0 and below 1"):
        build_model("text-region-cnn", SHAPE, {"word_dropout": 1.0})
