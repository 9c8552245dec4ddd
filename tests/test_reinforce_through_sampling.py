"""REINFORCE backpropagated through the sampling pass: the same value and gradients as
re-scoring the samples, and as differentiating through the plain sampling loop."""

from __future__ import annotations

import pytest
import torch

from gvetool.engine.steps import LossModule, backward_terms
from gvetool.nn.execution import forced

from .reference import naive_reinforce_loss
from .test_models import _batch, _gve

THROUGH = {"fused_recurrence": False, "compact_sampling": True, "reinforce_through_sampling": True}
RESCORED = {**THROUGH, "reinforce_through_sampling": False}


@pytest.fixture(autouse=True)
def _float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _loss_and_grads(model, batch, choice: dict, seed: int = 5):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    with forced(**choice):
        loss, reward = model.reinforce_loss(batch)
    loss.backward()
    grads = [
        p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()
    ]
    return loss.detach(), reward, grads


@pytest.mark.parametrize("baseline", ["none", "mean", "greedy"])
@pytest.mark.parametrize("max_len", [3, 12])  # every row cut at the cap / ragged ends
def test_through_sampling_equals_rescoring_value_and_every_gradient(baseline, max_len):
    model, batch = _gve(dropout=0.3, baseline=baseline, max_len=max_len), _batch(n=9)
    through = _loss_and_grads(model, batch, THROUGH)
    rescored = _loss_and_grads(model, batch, RESCORED)
    torch.testing.assert_close(through[1], rescored[1])  # the same samples, the same rewards
    torch.testing.assert_close(through[0], rescored[0])
    for got, want in zip(through[2], rescored[2], strict=True):
        torch.testing.assert_close(got, want)
    assert any(g.abs().sum() > 0 for g in through[2])


def test_through_sampling_equals_differentiating_through_the_plain_sampling_loop():
    model, batch = _gve(dropout=0.3, max_len=12), _batch(n=9)
    torch.manual_seed(5)
    with forced(**THROUGH):
        loss, samples = model.reinforce_through_sampling(batch)
    assert int(samples.lengths.min()) < int(samples.lengths.max())  # ragged ends
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    naive, _, lengths = naive_reinforce_loss(
        model, batch.features, batch.class_ids, 12, forced=samples.tokens
    )
    naive_grads = torch.autograd.grad(naive, list(model.parameters()), allow_unused=True)
    assert torch.equal(lengths, samples.lengths)
    torch.testing.assert_close(loss, naive)
    for got, want in zip(grads, naive_grads, strict=True):
        if want is None:
            assert got is None or not got.abs().any()
        else:
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("reward_dropout", [False, True])
def test_the_trainers_terms_give_the_same_step_either_way_with_ddp_token_scaling(reward_dropout):
    model, batch = _gve(dropout=0.3, baseline="mean", max_len=12), _batch(n=9)
    model.reward_dropout_from = 0 if reward_dropout else None  # its random numbers too
    model.start_epoch(0)
    batch.ce_tokens = float(batch.lengths.sum()) / 2  # as one of two processes sees it
    results = []
    for choice in (THROUGH, RESCORED):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        with forced(**choice):
            terms = model.loss_terms(batch)
            logs = backward_terms(LossModule(model), batch, terms, torch.enable_grad)
        results.append((logs, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (through_logs, through), (rescored_logs, rescored) = results
    assert through_logs.keys() == rescored_logs.keys()
    for key in through_logs:
        assert through_logs[key] == pytest.approx(rescored_logs[key], rel=1e-9, abs=1e-12)
    for got, want in zip(through, rescored, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("kept_length", [24, 1])  # samples average 1.9 tokens
def test_a_pass_longer_than_kept_length_is_rescored_with_the_same_step(kept_length):
    """Cross-entropy comes first, then REINFORCE around the kept activations; samples
    averaging more than ``kept_length`` tokens keep nothing and are re-scored in groups
    of at most the tokens that could have been kept (not ``rescoring_tokens``): the same
    sentences and the same step as re-scoring."""
    from gvetool.builtins.models.gve import ReinforcePart

    model, batch = _gve(dropout=0.3, max_len=12), _batch(n=9)
    results = []
    for choice in ({**THROUGH, "kept_length": kept_length, "rescoring_tokens": 4}, RESCORED):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        with forced(**choice):
            terms = model.loss_terms(batch)
            kinds = [term if isinstance(term, str) else term.kept is not None for term in terms]
            sizes = [int(term.samples.lengths[term.rows].sum()) for term in terms[1:]]
            logs = backward_terms(LossModule(model), batch, terms, torch.enable_grad)
        results.append((kinds, sizes, logs, [p.grad.clone() for p in model.parameters()]))
    (kinds, sizes, logs, grads), (_, _, rescored_logs, rescored) = results
    assert all(isinstance(term, ReinforcePart) for term in terms[1:])
    if kept_length == 24:
        assert kinds == ["cross_entropy", True]
    else:  # in groups of at most what could have been kept: 9 rows x 1 token
        assert kinds[0] == "cross_entropy" and len(kinds) > 2 and not any(kinds[1:])
        assert 5 < max(sizes) <= 9 < sum(sizes)  # groups of 4 would hold at most 5 (one row)
    assert logs["reward"] == pytest.approx(rescored_logs["reward"], rel=1e-12)
    assert logs["loss"] == pytest.approx(rescored_logs["loss"], rel=1e-9)
    for got, want in zip(grads, rescored, strict=True):
        torch.testing.assert_close(got, want)


def test_through_sampling_runs_the_lstms_forward_once_and_backward_by_hand(monkeypatch):
    """The graph is built around the sampling pass's own activations: the packed
    recurrence never runs (no second forward), its hand-written backward does."""
    import gvetool.nn.lstm as lstm

    model, batch = _gve(dropout=0.3, max_len=12), _batch(n=9)
    runs, backwards = [], []
    real_run, real_backward = lstm._run, lstm._Recurrence.backward
    monkeypatch.setattr(lstm, "_run", lambda *a: runs.append(1) or real_run(*a))
    monkeypatch.setattr(
        lstm._Recurrence,
        "backward",
        staticmethod(lambda ctx, g: backwards.append(1) or real_backward(ctx, g)),
    )
    torch.manual_seed(5)
    with forced(**THROUGH):
        loss, _ = model.reinforce_through_sampling(batch)
    loss.backward()
    assert runs == [] and len(backwards) == 2  # both LSTMs, once each


def test_kept_activations_give_the_packed_layers_own_outputs_and_gradients():
    """``PackedLSTM.forward(computed=...)``: the activations kept step by step by
    ``recorded_step`` and re-laid by ``SamplingRecord`` give the packed pass's outputs and
    every gradient, rows ending in an order other than the sorted one; each field is
    re-laid in place, in the one buffer the record kept it in."""
    from gvetool.nn.lstm import PackedLSTM, Packing
    from gvetool.nn.sampling_record import SamplingRecord

    torch.manual_seed(0)
    layer, lengths = PackedLSTM(3, 4), torch.tensor([2, 5, 1, 5, 3])
    inputs = torch.randn(5, 5, 3)
    offset = torch.randn(5, 16)
    record = SamplingRecord(layers=1, capacity=5 * 5)
    state, rows = layer.zero_state(5, inputs), torch.arange(5)
    for t in range(int(lengths.max())):
        state, gates = layer.recorded_step(inputs[rows, t], state, offset[rows])
        record.add(rows, (state, gates))
        keep = lengths[rows] > t + 1
        rows, state = rows[keep], (state[0][keep], state[1][keep])
    order = torch.argsort(lengths, descending=True, stable=True)
    packing = Packing.from_lengths(lengths[order])
    kept = record.packed(lengths)[0]
    for field, width in (("gates", 16), ("cells", 4), ("outputs", 4)):
        tensor = getattr(kept, field)
        assert tensor.shape == (int(lengths.sum()), width)
        assert tensor.untyped_storage().nbytes() == 5 * 5 * width * tensor.element_size()
    results = []
    for computed in (None, kept):
        x, b = packing.pack(inputs[order]).requires_grad_(), offset[order].requires_grad_()
        layer.zero_grad(set_to_none=True)
        out = layer(x, packing, b, computed=computed)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append([out.detach(), x.grad, b.grad, *(p.grad for p in layer.parameters())])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want)
