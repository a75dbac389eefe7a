"""Checkpoints: round trip of adapters/heads/optimizer/scheduler/RNG, partial saves ignored, pruning."""

import random

import torch

from rllr.models.adapters import AdapterModel, LoraSettings
from rllr.train.checkpoint import COMPLETE, latest_checkpoint, load_checkpoint, save_checkpoint
from tests.conftest import make_tiny_lm


def _model():
    model = AdapterModel(make_tiny_lm(vocab_size=120))
    model.add_adapter("policy", LoraSettings(r=4))
    model.add_adapter("value", LoraSettings(r=4), head=True)
    return model


def _step(model, opt):
    x = torch.randint(3, 100, (2, 6))
    with model.using("value"):
        loss = model.head_scores("value", model.hidden_states(x, torch.ones_like(x))).pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()


def test_round_trip_and_latest(tmp_path):
    torch.manual_seed(0)
    model = _model()
    opt = torch.optim.AdamW(model.parameters_of(["policy", "value"]), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    _step(model, opt)
    sched.step()
    path = save_checkpoint(tmp_path, 1, model=model, adapters=["policy", "value"],
                           optimizers={"policy": opt}, schedulers={"policy": sched},
                           state={"data_position": 8})
    want = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    after_save = (random.random(), torch.rand(1))

    other = _model()  # fresh weights, fresh optimizer
    opt2 = torch.optim.AdamW(other.parameters_of(["policy", "value"]), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0 / (1 + s))
    state = load_checkpoint(path, model=other, adapters=["policy", "value"],
                            optimizers={"policy": opt2}, schedulers={"policy": sched2})
    assert state == {"step": 1, "data_position": 8}
    got = dict(other.named_parameters())
    assert all(torch.equal(got[n], v) for n, v in want.items())
    assert (random.random(), torch.rand(1)) == after_save  # RNG streams continue identically
    assert sched2.state_dict()["last_epoch"] == 1 and opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_partial_saves_ignored_and_pruned(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters_of(["policy"]), lr=1e-3)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model=model, adapters=["policy"], optimizers={"p": opt}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-2", "step-3"]
    (tmp_path / "checkpoints" / "step-3" / COMPLETE).unlink()  # as if killed before the marker
    (tmp_path / "checkpoints" / "step-9").mkdir()                # a bare partial folder
    assert latest_checkpoint(tmp_path).name == "step-2"
    assert latest_checkpoint(tmp_path / "nothing") is None
