"""The fused output-layer loss computes what ``F.cross_entropy(out(h), y)`` computes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gvetool.builtins.models.gve import GVE, ReinforcePart, Samples
from gvetool.builtins.models.sentence_classifier import SentenceClassifier
from gvetool.nn import output_loss
from gvetool.nn.output_loss import output_nll


def _case(rows: int = 37, hidden: int = 12, words: int = 29, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, hidden, generator=generator, requires_grad=True)
    weight = torch.randn(words, hidden, generator=generator, requires_grad=True)
    bias = torch.randn(words, generator=generator, requires_grad=True)
    targets = torch.randint(0, words, (rows,), generator=generator)
    weights = torch.rand(rows, generator=generator) - 0.3  # advantages may be negative
    return h, weight, bias, targets, weights


def _plain(h, weight, bias, targets, weights):
    nll = F.cross_entropy(F.linear(h, weight, bias), targets, reduction="none")
    return (nll if weights is None else nll * weights).sum()


@pytest.mark.parametrize("chunk", [5, 512])  # several chunks with a ragged last one; one chunk
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradients_equal_the_plain_formulation(monkeypatch, chunk, weighted):
    monkeypatch.setattr(output_loss, "CHUNK_ROWS", chunk)
    h, weight, bias, targets, weights = _case()
    weights = weights if weighted else None
    fused = output_nll(h, weight, bias, targets, weights)
    plain = _plain(h, weight, bias, targets, weights)
    torch.testing.assert_close(fused, plain)
    # an upstream factor other than 1 (a loss divided by the token count, a weight λ)
    got = torch.autograd.grad(fused * 0.3, [h, weight, bias])
    want = torch.autograd.grad(plain * 0.3, [h, weight, bias])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_frozen_inputs_get_no_gradient_and_no_grad_mode_gives_the_loss(monkeypatch):
    monkeypatch.setattr(output_loss, "CHUNK_ROWS", 8)
    h, weight, bias, targets, weights = _case()
    frozen = h.detach()
    fused = output_nll(frozen, weight, bias, targets, weights)
    (grad_weight,) = torch.autograd.grad(fused, [weight])
    (want,) = torch.autograd.grad(_plain(frozen, weight, bias, targets, weights), [weight])
    torch.testing.assert_close(grad_weight, want)
    with torch.no_grad():
        loss = output_nll(h, weight, bias, targets, weights)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, _plain(h, weight, bias, targets, weights).detach())


def test_bf16_autocast_stays_close_to_fp32():
    h, weight, bias, targets, _ = _case(rows=64, hidden=32, words=50)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = output_nll(h, weight, bias, targets)
    (low_grad,) = torch.autograd.grad(low, [weight])
    (grad,) = torch.autograd.grad(_plain(h, weight, bias, targets, None), [weight])
    torch.testing.assert_close(low, _plain(h, weight, bias, targets, None), rtol=2e-2, atol=0.5)
    torch.testing.assert_close(low_grad, grad, rtol=5e-2, atol=5e-2)


def test_a_reinforce_part_has_the_gradient_of_the_sentence_log_probability_form(monkeypatch):
    """GVE's REINFORCE term through the fused loss equals -(A * log p(sample)).sum() / B."""
    monkeypatch.setattr(output_loss, "CHUNK_ROWS", 7)
    torch.manual_seed(0)
    model = GVE(20, 6, 3, embedding_size=8, hidden_size=8, max_len=9)
    model.attach_sentence_classifier(SentenceClassifier(20, 3, 8, 8))
    features, class_ids = torch.rand(6, 6), torch.tensor([0, 1, 2, 0, 1, 2])
    tokens, lengths = model.generate(features, class_ids, max_len=9, greedy=False)
    advantage = torch.linspace(-0.5, 1.0, 6)
    samples = Samples(tokens, lengths, advantage, advantage)
    rows = torch.tensor([4, 0, 2])
    batch = type("Batch", (), {"features": features, "class_ids": class_ids})()
    fused = model.reinforce_part_loss(batch, ReinforcePart(samples, rows))
    log_p = model.sentence_log_probs(
        features[rows], class_ids[rows], tokens[rows], lengths[rows], dropout=False
    )
    plain = -(advantage[rows] * log_p).sum() / 6
    torch.testing.assert_close(fused, plain)
    params = [p for p in model.parameters() if p.requires_grad]
    got = torch.autograd.grad(fused, params, allow_unused=True)
    want = torch.autograd.grad(plain, params, allow_unused=True)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            torch.testing.assert_close(g, w)


def test_a_second_backward_through_a_retained_graph_is_refused_in_words():
    h, weight, bias, targets, _ = _case()
    loss = output_nll(h, weight, bias, targets) * 2
    loss.backward(retain_graph=True)
    first = weight.grad.clone()
    torch.testing.assert_close(
        first, torch.autograd.grad(_plain(h, weight, bias, targets, None) * 2, [weight])[0]
    )
    with pytest.raises(RuntimeError, match="supports one backward pass"):
        loss.backward()
