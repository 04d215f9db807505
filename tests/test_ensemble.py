"""Ensembles: members trained on their own losses, the mean logit to predict, end to end on IMDB."""

import json

import pytest
import torch
import torch.nn.functional as F

from convseq.errors import UserError
from convseq.models import TextShape, build_model
from convseq.models.ensemble import Ensemble, members_of
from convseq.training.tasks import make_task
from tests.onnx_helpers import exported_max_diff
from tests.test_imdb_strong import run_preset


def small_ensemble(members=3):
    torch.manual_seed(0)
    settings = {"region_sizes": [2], "channels": 6, "members": members}
    return build_model("text-region-cnn", TextShape(vocab_size=50), settings)


def test_members_start_apart_and_the_ensemble_predicts_their_mean_logit():
    model = small_ensemble()
    first, second = (m.regions[0].table.weight for m in model.members[:2])
    assert not torch.equal(first, second)
    ids = torch.randint(1, 50, (4, 9))
    model.train()
    each = model(ids)
    assert each.shape == (4, 3)
    model.eval()
    alone = torch.stack([member(ids) for member in model.members], dim=-1)
    assert torch.allclose(model(ids), alone.mean(dim=-1))
    assert model(ids).shape == (4,)


def test_each_member_is_trained_on_its_own_loss():
    model = small_ensemble(members=2)
    model.train()
    for member in model.members:
        member.head_dropout.p = 0.0  # same forward in both passes below
    ids, target = torch.randint(1, 50, (5, 9)), torch.tensor([0, 1, 1, 0, 1])
    task = make_task("binary")
    loss = task.loss(model(ids), target)
    loss.backward()
    together = model.members[1].head.weight.grad.clone()
    own = torch.stack(
        [F.binary_cross_entropy_with_logits(m(ids), target.float()) for m in model.members]
    )
    assert torch.allclose(loss, own.mean())
    model.zero_grad()
    (own[1] / 2).backward()  # half, as the ensemble's loss is the mean over 2 members
    assert torch.allclose(model.members[1].head.weight.grad, together)
    # the accuracy is the mean logit's, not any one member's
    outputs = torch.tensor([[3.0, -1.0], [-1.0, 2.0]])  # member 0 right once, member 1 once
    assert task.batch_metrics(outputs, torch.tensor([1, 1])) == {"acc": 2}


def test_an_ensemble_of_one_is_refused_and_members_of_sees_through_it():
    with pytest.raises(UserError, match="at least 2 members"):
        Ensemble([torch.nn.Linear(2, 1)])
    three = build_model(  # a multi-class ensemble: each member's logits, averaged in eval
        "text-region-cnn", TextShape(vocab_size=50, num_outputs=3), {"channels": 4, "members": 2}
    )
    ids = torch.randint(1, 50, (5, 12))
    assert three(ids).shape == (5, 3, 2)
    three.eval()
    assert three(ids).shape == (5, 3)
    single = build_model(
        "text-region-cnn", TextShape(vocab_size=50), {"region_sizes": [2], "channels": 6}
    )
    assert members_of(single) == [single]
    assert len(members_of(small_ensemble())) == 3


def test_region_cnn_preset_trains_saves_and_predicts_an_ensemble(imdb_dir, tmp_path, capsys):
    import convseq

    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--members", "2", "--no-ngram-bag"]
    extra += ["--pretrain-epochs", "1", "--context-dim", "6", "--context-size", "3"]
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    printed = capsys.readouterr().out
    assert "Ensemble of 2 members; predicts their mean" in printed
    assert "members.1 (RegionCNN)" in printed  # the summary lists every member
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["model"]["settings"]["members"] == 2
    classifier = convseq.load(out)
    members = members_of(classifier.model)
    assert len(members) == 2
    # both members got the same pretrained table
    assert torch.equal(members[0].context.table, members[1].context.table)
    assert members[0].context.table.abs().sum() > 0
    assert len(classifier.predict(["a great film", "awful and dull"])) == 2


def test_an_ensemble_exports_to_onnx_as_its_mean_logit(imdb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--epochs", "1", "--channels", "8", "--members", "2", "--pretrain-epochs", "0"]
    extra.append("--no-ngram-bag")
    assert run_preset("imdb-region-cnn", imdb_dir, out, *extra) == 0
    assert exported_max_diff(out) <= 1e-4


def test_frozen_members_are_left_out_while_training_but_averaged_to_predict():
    torch.manual_seed(0)
    settings = {"region_sizes": [2], "channels": 6, "ngram_bag": True, "ngram_buckets": 101}
    model = build_model("text-region-cnn", TextShape(vocab_size=50), settings)
    network, bag = model.members
    network.head_dropout.p = 0.0
    torch.nn.init.normal_(bag.weight.weight)
    bag.ratio.normal_()
    ids = torch.randint(1, 50, (4, 9))
    model.train()
    assert model(ids).shape == (4, 2)  # both still learn
    bag.requires_grad_(False)
    assert torch.equal(model(ids), network(ids))  # only the network's output and loss
    model.eval()
    assert torch.allclose(model(ids), (network(ids) + bag(ids)) / 2)
