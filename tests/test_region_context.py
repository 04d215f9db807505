"""Region vectors pretrained on unlabelled text: windows, targets, the frozen layer, the learning."""

import torch

from convseq.models.region import RegionCNN
from convseq.models.region_context import RegionContext, centred_windows
from convseq.training.pretrain_context import (
    PretrainConfig,
    neighbour_ids,
    pretrain_region_context,
)


def word_at(ids, b, t):
    return int(ids[b, t]) if 0 <= t < ids.shape[1] else 0


def test_centred_windows_and_neighbours_follow_their_definition():
    ids = torch.arange(1, 25).view(2, 12)
    for size in (1, 2, 3, 5):
        left = (size - 1) // 2
        right = size - 1 - left
        windows = centred_windows(ids, size, padding_id=0)
        neighbours = neighbour_ids(ids, size, padding_id=0)
        for b in range(2):
            for t in range(12):
                expected = [word_at(ids, b, t + o) for o in range(-left, right + 1)]
                assert windows[b, t].tolist() == expected
                before = [word_at(ids, b, t - left - size + i) for i in range(size)]
                after = [word_at(ids, b, t + right + 1 + i) for i in range(size)]
                assert neighbours[b, t].tolist() == before + after


def test_region_context_is_relu_of_window_sums_and_ignores_padding():
    torch.manual_seed(0)
    layer = RegionContext(vocab_size=10, size=3, dim=4)
    layer.load(torch.randn(10, 4), torch.randn(4))
    assert layer.table[0].abs().sum() == 0  # the padding row stays zero
    ids = torch.tensor([[0, 0, 5, 3, 9], [2, 4, 4, 7, 1]])
    out = layer(ids)
    for b in range(2):
        for t in range(5):
            rows = [layer.table[word_at(ids, b, t + o)] for o in (-1, 0, 1)]
            assert torch.allclose(out[b, t], torch.relu(sum(rows) + layer.bias), atol=1e-6)


def topic_corpus(n_docs=300, length=40, seed=0):
    """Documents that each draw words from one of two disjoint topics (ids 10-29 and 30-49)."""
    g = torch.Generator().manual_seed(seed)
    topics = [torch.arange(10, 30), torch.arange(30, 50)]
    docs = []
    for i in range(n_docs):
        words = topics[i % 2]
        docs.append(words[torch.randint(0, len(words), (length,), generator=g)])
    return torch.stack(docs)


def test_pretraining_learns_which_words_share_a_context():
    ids = topic_corpus()
    config = PretrainConfig(size=3, dim=16, epochs=3, batch_size=16, positions=512, skip_top=0)
    config.lr, config.negatives = 0.02, 32
    table, bias, stats = pretrain_region_context(ids, 60, config, log=lambda _: None)
    assert stats["pretrain_loss_last"] < stats["pretrain_loss_first"] - 0.2
    vectors = torch.nn.functional.normalize(table[10:50], dim=1)
    similar = vectors @ vectors.T
    same = torch.block_diag(torch.ones(20, 20), torch.ones(20, 20)).bool()
    same &= ~torch.eye(40, dtype=torch.bool)
    different = ~torch.block_diag(torch.ones(20, 20), torch.ones(20, 20)).bool()
    assert similar[same].mean() > similar[different].mean() + 0.3


def test_pretraining_is_seeded():
    ids = topic_corpus(n_docs=40)
    config = PretrainConfig(size=3, dim=8, batch_size=8, positions=64, skip_top=0, negatives=8)
    first = pretrain_region_context(ids, 60, config, log=lambda _: None)
    second = pretrain_region_context(ids, 60, config, log=lambda _: None)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_region_cnn_context_is_frozen_saved_and_used():
    torch.manual_seed(0)
    model = RegionCNN(vocab_size=60, sizes=[2, 3], channels=8, context_size=5, context_dim=4)
    model.context.load(torch.randn(60, 4), torch.randn(4))
    assert {"context.table", "context.bias"} <= set(model.state_dict())
    assert not any(name.startswith("context.") for name, _ in model.named_parameters())
    ids = torch.randint(1, 60, (3, 12))
    before = model.context.table.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if not p.is_sparse], lr=0.1)
    model(ids).sum().backward()
    optimizer.step()
    assert torch.equal(model.context.table, before)
    model.eval()
    out = model(ids)
    model.context.load(torch.randn(60, 4), torch.randn(4))
    assert not torch.allclose(model(ids), out)  # the pretrained vectors feed the output


def test_pretraining_repeats_exactly_on_two_threads():
    # the output bias's gradient once summed in a thread-dependent order (differences ~1e-8)
    from convseq.cli import torch_threads

    ids = torch.randint(2, 3000, (600, 300), generator=torch.Generator().manual_seed(0))
    ids[:, :50] = 0
    config = PretrainConfig(dim=200, seed=0)
    with torch_threads(2):
        tables = [pretrain_region_context(ids, 3000, config, log=lambda *a: None)[0] for _ in "ab"]
    assert torch.equal(tables[0], tables[1])
