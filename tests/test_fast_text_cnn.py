"""The fused text-cnn path computes the same function as the layer-by-layer one.

Forward values, every parameter's gradient and a few optimizer steps are
compared in float64 against ``fused=False`` with the same weights, on inputs
with padding, repeated tokens and a batch of one.
"""

import pytest
import torch

from convseq.models.conv_global_max import conv_relu_global_max
from convseq.models.embedding_conv import embedding_conv_pool
from convseq.models.text import ReferenceTextCNN
from convseq.training.optim import make_optimizer

VOCAB = 60
SMALL = {"embed_dim": 16, "channels": 8}  # quick to train; the shapes tests use the reference sizes


def twin_models(sparse_grad=False, plain_sparse=False, **settings):
    """The fused model and the layer-by-layer one (dense gradients unless ``plain_sparse``)."""
    torch.manual_seed(0)
    fused = ReferenceTextCNN(VOCAB, fused=True, sparse_grad=sparse_grad, **settings)
    plain = ReferenceTextCNN(VOCAB, fused=False, sparse_grad=plain_sparse, **settings)
    plain.load_state_dict(fused.state_dict())
    return fused.double(), plain.double()


def batches():
    torch.manual_seed(1)
    padded = torch.randint(0, VOCAB, (4, 80))
    padded[:, :35] = 0  # Keras-style pre-padding: one token id at many positions
    repeated = torch.tensor([[5, 5, 5, 7, 5, 5, 7, 7] * 8])  # one review, few distinct ids
    return {"padded": padded, "repeated": repeated, "single": torch.randint(0, VOCAB, (1, 50))}


def dense(grad: torch.Tensor) -> torch.Tensor:
    return grad.to_dense() if grad.is_sparse else grad


@pytest.mark.parametrize("case", ["padded", "repeated", "single"])
@pytest.mark.parametrize("sparse_grad", [False, True])
def test_forward_and_every_gradient_match_the_plain_model(case, sparse_grad):
    fused, plain = twin_models(sparse_grad)
    ids = batches()[case]
    out_fused, out_plain = fused(ids), plain(ids)
    torch.testing.assert_close(out_fused, out_plain, rtol=1e-10, atol=1e-12)
    weights = torch.randn_like(out_plain)
    (out_fused * weights).sum().backward()
    (out_plain * weights).sum().backward()
    for (name, p_fused), p_plain in zip(fused.named_parameters(), plain.parameters(), strict=True):
        assert p_fused.grad.is_sparse == (sparse_grad and name == "embedding.weight")
        torch.testing.assert_close(dense(p_fused.grad), p_plain.grad, rtol=1e-9, atol=1e-12)
    # only rows of tokens in the batch have a gradient; the padding row has one
    moved = dense(fused.embedding.weight.grad).abs().sum(1) > 0
    assert set(moved.nonzero().flatten().tolist()) <= set(ids.flatten().tolist())
    assert moved[0] or case != "padded"


def test_fused_layers_match_their_definitions_with_a_multiclass_head():
    torch.manual_seed(2)
    fused, plain = twin_models(num_outputs=3, embed_dim=16, channels=8, kernel_size=3, pool=2)
    ids = torch.randint(0, VOCAB, (3, 30))
    torch.testing.assert_close(fused(ids), plain(ids))
    assert fused(ids).shape == (3, 3)


def test_layer_functions_alone_match_torch_ops():
    torch.manual_seed(3)
    ids = torch.randint(0, 9, (2, 24))
    emb = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    w1 = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    b1 = torch.randn(4, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    b2 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    x = embedding_conv_pool(ids, emb, w1, b1, 3)
    out = conv_relu_global_max(x, w2, b2)
    ref_x = torch.nn.functional.max_pool1d(
        torch.relu(torch.nn.functional.conv1d(emb[ids].transpose(1, 2), w1, b1)), 3
    )
    ref = torch.relu(torch.nn.functional.conv1d(ref_x, w2, b2)).amax(2)
    torch.testing.assert_close(x, ref_x.transpose(1, 2))
    torch.testing.assert_close(out, ref)
    assert torch.autograd.gradcheck(
        lambda e, a, b, c, d: conv_relu_global_max(embedding_conv_pool(ids, e, a, b, 3), c, d),
        (emb, w1, b1, w2, b2),
    )


def test_a_few_training_steps_give_the_same_weights():
    """Sparse embedding gradients + lazy RMSprop == dense gradients + dense RMSprop."""
    fused, plain = twin_models(sparse_grad=True, **SMALL)
    opt_fused = make_optimizer("rmsprop", fused.parameters(), lr=1e-2)
    opt_plain = make_optimizer("rmsprop", plain.parameters(), lr=1e-2)
    torch.manual_seed(4)
    for step in range(6):
        ids = torch.randint(0, VOCAB // (1 + step % 3), (4, 60))  # some rows skip steps
        target = torch.randint(0, 2, (4,)).double()
        for model, opt in ((fused, opt_fused), (plain, opt_plain)):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(ids), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    assert fused.embedding.weight.grad.is_sparse
    for (name, a), b in zip(fused.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=name)
    assert not torch.equal(fused.embedding.weight, twin_models(**SMALL)[0].embedding.weight)


def test_layer_hooks_see_the_layer_by_layer_path():
    fused, _ = twin_models()
    seen = []
    fused.conv1.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    fused(torch.randint(0, VOCAB, (2, 50)))
    assert seen == [(2, 32, 44)]


def test_inference_mode_gives_the_training_forward():
    fused, plain = twin_models()
    ids = batches()["padded"]
    with torch.inference_mode():
        torch.testing.assert_close(fused.eval()(ids), plain.eval()(ids))


@pytest.mark.parametrize("optimizer,grad_clip", [("adam", 0.0), ("rmsprop", 0.5), ("rmsprop", 0.0)])
def test_trainer_gives_the_same_weights_for_both_paths(optimizer, grad_clip):
    """The same training through either path: sparse rows go to an optimizer that takes them
    (Adam: lazily, on both paths, as ``nn.Embedding(sparse=True)``), and clipping sees them."""
    from convseq.config import Training
    from convseq.data.batches import ArrayBatches
    from convseq.training.tasks import make_task
    from convseq.training.trainer import Trainer

    torch.manual_seed(5)
    ids = torch.randint(0, VOCAB, (12, 50))
    labels = torch.randint(0, 2, (12,)).double()
    results = []
    for model in twin_models(sparse_grad=True, plain_sparse=True, **SMALL):
        config = Training(epochs=2, optimizer=optimizer, lr=1e-2, grad_clip=grad_clip)
        trainer = Trainer(model, make_task("binary"), config, progress=False)
        trainer.fit(ArrayBatches(ids, labels, 4, shuffle=True), ArrayBatches(ids, labels, 6))
        results.append(model.state_dict())
    for name in results[0]:
        torch.testing.assert_close(results[0][name], results[1][name], msg=name)


@pytest.mark.parametrize("bad_id", [-1, VOCAB])
def test_ids_outside_the_vocabulary_are_refused_like_the_plain_model(bad_id):
    ids = torch.zeros(1, 60, dtype=torch.long)
    ids[0, 10] = bad_id
    for model in twin_models(**SMALL):
        with pytest.raises(IndexError):
            model(ids)


def test_resuming_a_killed_run_gives_the_uninterrupted_weights(tmp_path, monkeypatch):
    """The lazy optimizer state (per-row steps) survives the per-epoch checkpoint."""
    from convseq.config import Training
    from convseq.data.batches import ArrayBatches
    from convseq.training.tasks import make_task
    from convseq.training.trainer import Trainer

    torch.manual_seed(6)
    ids = torch.randint(0, VOCAB, (12, 50))
    labels = torch.randint(0, 2, (12,)).float()

    def fit(checkpoint=None):
        torch.manual_seed(0)
        model = ReferenceTextCNN(VOCAB, **SMALL)
        trainer = Trainer(
            model, make_task("binary"), Training(epochs=3), checkpoint=checkpoint, progress=False
        )
        history = trainer.fit(
            ArrayBatches(ids, labels, 4, shuffle=True), ArrayBatches(ids, labels, 6)
        )
        return model.state_dict(), [(row["loss"], row["val_loss"]) for row in history]

    full, full_history = fit()
    ckpt = tmp_path / "checkpoint.pt"
    original = Trainer._save_checkpoint

    def save_then_die(self, epoch, schedule):
        original(self, epoch, schedule)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(ckpt)
    monkeypatch.setattr(Trainer, "_save_checkpoint", original)
    resumed, resumed_history = fit(ckpt)
    assert resumed_history == full_history and len(full_history) == 3
    for name in full:
        assert torch.equal(full[name], resumed[name]), name
