"""The science: LRCN/GVE maths, REINFORCE's gradient, the frozen sentence classifier."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gvetool.builtins.models.captioner import (
    Captioner,
    build_definition,
    build_explanation_label,
    build_lrcn,
)
from gvetool.builtins.models.gve import (
    GVE,
    ReinforcePart,
    build_explanation_discriminative,
    build_gve,
)
from gvetool.builtins.models.sentence_classifier import SentenceClassifier
from gvetool.config.schema import TrainConfig
from gvetool.data.vocab import Vocabulary
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.kernel.batch import CaptionBatch
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.specs import ModelShape
from gvetool.nn.lstm import PackedLSTM, Packing
from gvetool.nn.reinforce_options import ReinforceOptions

from .reference import naive_caption_loss, naive_reinforce_loss

V, D, C, E, H = 12, 6, 3, 5, 7


@pytest.fixture(autouse=True)
def _float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _gve(dropout: float = 0.3, **kwargs) -> GVE:
    torch.manual_seed(0)
    model = GVE(V, D, C, E, H, dropout=dropout, **kwargs)
    classifier = SentenceClassifier(V, C, E, H, dropout=0.5)
    model.attach_sentence_classifier(classifier)
    with torch.no_grad():
        model.out.bias[Vocabulary.end_id] += 2.0  # sentences end after a few words
    return model


def _batch(n: int = 5, width: int = 6) -> CaptionBatch:
    torch.manual_seed(1)
    lengths = torch.randint(1, width + 1, (n,))
    tokens = torch.randint(4, V, (n, width))
    tokens[torch.arange(width)[None, :] >= lengths[:, None]] = 0
    tokens[torch.arange(n), lengths - 1] = Vocabulary.end_id
    return CaptionBatch(
        torch.rand(n, D), tokens, lengths, torch.randint(0, C, (n,)), torch.arange(n)
    )


def test_packed_lstm_equals_torch_lstm_on_packed_sequences():
    torch.manual_seed(0)
    lstm = PackedLSTM(3, 4)
    for p in lstm.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    reference = torch.nn.LSTM(3, 4, batch_first=True)
    with torch.no_grad():
        reference.weight_ih_l0.copy_(lstm.weight_ih)
        reference.weight_hh_l0.copy_(lstm.weight_hh)
        reference.bias_ih_l0.copy_(lstm.bias_ih)
        reference.bias_hh_l0.copy_(lstm.bias_hh)
    x, lengths = torch.randn(5, 6, 3), torch.tensor([6, 5, 5, 2, 1])
    packing = Packing.from_lengths(lengths)
    expected, _ = reference(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True))
    torch.testing.assert_close(lstm(packing.pack(x), packing), expected.data)


def test_teacher_forced_loss_equals_the_concatenated_formulation():
    model, batch = _gve(), _batch()
    model.eval()
    fast = model.caption_loss(batch)
    naive = naive_caption_loss(model, batch.features, batch.class_ids, batch.tokens, batch.lengths)
    torch.testing.assert_close(fast, naive)


def test_cross_entropy_is_the_mean_over_all_real_tokens_of_the_batch():
    """The original's nn.CrossEntropyLoss over packed targets: one mean over tokens."""
    model, batch = _gve(), _batch()
    model.eval()
    states, targets, _ = model.token_states(
        batch.features, batch.class_ids, batch.tokens, batch.lengths
    )
    logits = model.out(states)
    assert len(targets) == int(batch.lengths.sum())
    token_mean = torch.nn.functional.cross_entropy(logits, targets)
    torch.testing.assert_close(model.caption_loss(batch), token_mean)
    sentence_sums = -model.sentence_log_probs(
        batch.features, batch.class_ids, batch.tokens, batch.lengths
    )
    torch.testing.assert_close(model.caption_loss(batch), sentence_sums.sum() / batch.lengths.sum())
    halved = dataclasses.replace(batch, ce_tokens=2 * float(batch.lengths.sum()))
    torch.testing.assert_close(model.caption_loss(halved), token_mean / 2)


def _dropout_calls(monkeypatch, run) -> list[tuple[int, ...]]:
    """Shapes of the tensors that ``run`` passes through an active dropout."""
    shapes, original = [], torch.nn.functional.dropout

    def recording(x, p=0.5, training=True, inplace=False):
        if training and p > 0:
            shapes.append(tuple(x.shape))
        return original(x, p, training, inplace)

    monkeypatch.setattr(torch.nn.functional, "dropout", recording)
    run()
    return shapes


@pytest.mark.parametrize("classes", [0, C])
def test_dropout_sites_are_the_originals(monkeypatch, classes):
    """Embeddings, image vector, LSTM 2's whole input per step, LSTM 2's output."""
    torch.manual_seed(0)
    model, batch = Captioner(V, D, E, H, dropout=0.5, num_classes=classes), _batch()
    model.train()
    shapes = _dropout_calls(monkeypatch, lambda: model.caption_loss(batch))
    tokens, rows = int(batch.lengths.sum()), len(batch.lengths)
    assert sorted(shapes) == sorted(
        [(tokens, E), (rows, H), (tokens, 2 * H + classes), (tokens, H)]
    )
    model.eval()
    assert _dropout_calls(monkeypatch, lambda: model.caption_loss(batch)) == []


def test_lstm2_input_dropout_draws_a_fresh_mask_at_every_step():
    torch.manual_seed(0)
    hidden = 64
    model, batch = Captioner(V, D, E, hidden, dropout=0.5, num_classes=C), _batch()
    model.train()
    h1 = torch.ones(int(batch.lengths.sum()), hidden)
    rows = torch.zeros(len(h1), dtype=torch.long)  # every token reads sentence 0's image
    dropped = model._lstm2_inputs(batch.features, batch.class_ids, h1, rows)
    image_masks = {tuple(row.ne(0).tolist()) for row in dropped[:, :hidden]}
    assert len(image_masks) == len(h1)  # the same image, a different mask at every token
    assert dropped[:, hidden : hidden + C].sum(1).ne(0).any()  # the one-hot is dropped too
    assert dropped[:, hidden : hidden + C].sum(1).eq(0).any()


def test_training_with_dropout_concatenates_the_inputs_the_original_way(monkeypatch):
    """With dropout made the identity, the per-step concatenated path = the offset path."""
    model, batch = _gve(dropout=0.5), _batch()
    model.eval()
    expected = model.caption_loss(batch)
    monkeypatch.setattr(
        torch.nn.functional, "dropout", lambda x, p=0.5, training=True, inplace=False: x
    )
    model.train()
    assert model._dropping(True)
    torch.testing.assert_close(model.caption_loss(batch), expected)
    torch.testing.assert_close(
        naive_caption_loss(model, batch.features, batch.class_ids, batch.tokens, batch.lengths),
        expected,
    )


def test_initialisation_is_the_originals():
    torch.manual_seed(0)
    model = GVE(50, 40, 30, 20, 100, dropout=0.5)
    lstm_bound = 1 / 100**0.5
    for name, parameter in model.named_parameters():
        if name in ("image.bias", "out.bias"):
            assert torch.equal(parameter, torch.zeros_like(parameter)), name
        elif name in ("embed.weight", "image.weight", "out.weight"):
            assert parameter.abs().max() <= 0.1 and parameter.abs().max() > 0.09, name
        else:  # every LSTM tensor, nn.LSTM's init, two biases per LSTM
            assert parameter.abs().max() <= lstm_bound, name
            assert parameter.abs().max() > 0.9 * lstm_bound, name
    names = {name for name, _ in model.named_parameters()}
    assert {"lstm1.bias_ih", "lstm1.bias_hh", "lstm2.bias_ih", "lstm2.bias_hh"} <= names
    assert model.image.out_features == 100  # the image is projected to the hidden size
    classifier = SentenceClassifier(50, 3, 20, 100)
    assert torch.equal(classifier.out.bias, torch.zeros(3))
    assert classifier.embed.weight.abs().max() <= 0.1
    assert classifier.lstm.weight_hh_l0.abs().max() <= lstm_bound


def test_sentence_classifier_drops_out_its_embeddings_and_last_hidden_state(monkeypatch):
    torch.manual_seed(0)
    classifier, batch = SentenceClassifier(V, C, E, H, dropout=0.5).train(), _batch()
    shapes = _dropout_calls(monkeypatch, lambda: classifier.loss(batch))
    assert sorted(shapes) == sorted([(*batch.tokens.shape, E), (len(batch.lengths), H)])


def test_lrcn_ignores_the_class_and_gve_uses_it():
    torch.manual_seed(0)
    lrcn, gve, batch = Captioner(V, D, E, H), _gve(), _batch()
    lrcn.eval()
    gve.eval()
    other = CaptionBatch(
        batch.features, batch.tokens, batch.lengths, (batch.class_ids + 1) % C, batch.image_index
    )
    assert torch.equal(lrcn.caption_loss(batch), lrcn.caption_loss(other))
    assert not torch.allclose(gve.caption_loss(batch), gve.caption_loss(other))


def test_reinforce_gradient_equals_differentiating_through_the_sampling_loop():
    model, batch = _gve(), _batch(n=8)
    model.train()  # dropout is on for cross-entropy but must be off for REINFORCE
    torch.manual_seed(3)
    tokens, lengths = model.generate(batch.features, batch.class_ids, max_len=10, greedy=False)
    assert lengths.float().mean() < 10  # sentences of varied length, some cut by the end token
    reward = model.reward(tokens, lengths, batch.class_ids)
    fast = -(
        reward
        * model.sentence_log_probs(batch.features, batch.class_ids, tokens, lengths, dropout=False)
    ).mean()
    fast_grads = torch.autograd.grad(fast, list(model.parameters()))
    naive, naive_tokens, naive_lengths = naive_reinforce_loss(
        model, batch.features, batch.class_ids, 10, forced=tokens
    )
    naive_grads = torch.autograd.grad(naive, list(model.parameters()))
    assert torch.equal(naive_lengths, lengths)
    assert torch.equal(naive_tokens[:, : tokens.shape[1]], tokens)
    torch.testing.assert_close(fast, naive)
    for got, want in zip(fast_grads, naive_grads, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("baseline", ["none", "mean", "greedy"])
def test_reinforce_loss_is_that_estimator_on_the_models_own_samples(baseline):
    model, batch = _gve(baseline=baseline), _batch(n=8)
    torch.manual_seed(5)
    loss, reward = model.reinforce_loss(batch)
    torch.manual_seed(5)
    tokens, lengths = model.generate(batch.features, batch.class_ids, model.max_len, greedy=False)
    log_p = model.sentence_log_probs(
        batch.features, batch.class_ids, tokens, lengths, dropout=False
    )
    torch.testing.assert_close(reward, model.reward(tokens, lengths, batch.class_ids))
    expected_b = torch.zeros_like(reward)
    if baseline == "mean":
        expected_b = reward.mean()
    elif baseline == "greedy":
        greedy, greedy_lengths = model.generate(batch.features, batch.class_ids, model.max_len)
        expected_b = model.reward(greedy, greedy_lengths, batch.class_ids)
    torch.testing.assert_close(loss, -((reward - expected_b) * log_p).mean())


def test_generation_drops_finished_rows_without_changing_the_result():
    model, batch = _gve(), _batch(n=8)
    model.eval()
    tokens, lengths = model.generate(batch.features, batch.class_ids, max_len=12)
    for row in range(8):
        alone, alone_len = model.generate(
            batch.features[row : row + 1], batch.class_ids[row : row + 1], 12
        )
        assert int(alone_len) == int(lengths[row])
        assert torch.equal(alone[0, : int(alone_len)], tokens[row, : int(lengths[row])])
        assert tokens[row, int(lengths[row]) :].eq(0).all()
        ended = tokens[row, int(lengths[row]) - 1] == Vocabulary.end_id
        assert bool(ended) or int(lengths[row]) == 12


def test_sentence_classifier_is_frozen_and_in_eval_mode_while_gve_trains():
    model, batch = _gve(), _batch(n=8)
    classifier = model.sentence_classifier
    model.train()
    assert not classifier.training
    assert all(not p.requires_grad for p in classifier.parameters())
    assert not any(k.startswith("sentence_classifier") for k in model.state_dict())
    assert all(p is not q for p in model.parameters() for q in classifier.parameters())
    tokens, lengths = model.generate(batch.features, batch.class_ids, 10, greedy=False)
    first = model.reward(tokens, lengths, batch.class_ids)
    assert torch.equal(first, model.reward(tokens, lengths, batch.class_ids))  # no dropout
    before = [p.clone() for p in classifier.parameters()]
    loss, _ = model.loss(batch)
    loss.backward()
    assert all(p.grad is None for p in classifier.parameters())
    assert not classifier.training
    assert all(torch.equal(a, b) for a, b in zip(before, classifier.parameters(), strict=True))


def test_sentence_classifier_reads_only_real_tokens():
    torch.manual_seed(0)
    classifier = SentenceClassifier(V, C, E, H).eval()
    tokens = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    lengths = torch.tensor([3, 2])
    padded_more = torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(classifier(tokens, lengths), classifier(padded_more, lengths))


def test_packed_lstm_backward_passes_gradcheck():
    torch.manual_seed(0)
    lstm = PackedLSTM(3, 4)
    for p in lstm.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    packing = Packing.from_lengths(torch.tensor([5, 4, 4, 2, 1]))
    inputs = packing.pack(torch.randn(5, 5, 3)).requires_grad_()
    offset = torch.randn(5, 16, requires_grad=True)

    def run(inputs, weight_ih, weight_hh, bias_ih, bias_hh, offset):
        weights = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih}
        weights["bias_hh"] = bias_hh
        return torch.func.functional_call(lstm, weights, (inputs, packing, offset))

    params = [p.detach().clone().requires_grad_() for p in lstm.parameters()]
    assert torch.autograd.gradcheck(run, (inputs, *params, offset))
    assert torch.autograd.gradcheck(lambda x, *w: run(x, *w, None), (inputs, *params))


def test_packed_lstm_frees_its_buffers_after_backward_and_rebuilds_them_for_a_retained_graph():
    torch.manual_seed(0)
    lstm = PackedLSTM(3, 4)
    packing = Packing.from_lengths(torch.tensor([4, 3, 1]))
    inputs = packing.pack(torch.randn(3, 4, 3)).requires_grad_()
    offset = torch.randn(3, 16, requires_grad=True)
    outputs = lstm(inputs, packing, offset)
    weights = torch.randn_like(outputs)
    assert outputs.grad_fn.buffers is not None
    grads = []
    for _ in range(2):
        tensors = (inputs, offset, *lstm.parameters())
        grads.append(torch.autograd.grad((outputs * weights).sum(), tensors, retain_graph=True))
        assert outputs.grad_fn.buffers is None  # the activations were consumed and dropped
    for first, second in zip(*grads, strict=True):
        assert torch.equal(first, second)


def test_reinforce_in_parts_gives_the_gradient_of_the_whole_loss():
    """The trainer's term-by-term backward (CE, then REINFORCE groups) = one backward."""
    whole, batch = _gve(dropout=0.0), _batch(n=8)  # no dropout: both draw the same samples
    parts = _gve(dropout=0.0, reinforce_tokens=5)
    parts.load_state_dict(whole.state_dict())
    parts.attach_sentence_classifier(whole.sentence_classifier)
    torch.manual_seed(4)
    loss, logs = whole.loss(batch)
    loss.backward()
    torch.manual_seed(4)
    terms = parts.loss_terms(batch)
    groups = [t for t in terms if isinstance(t, ReinforcePart)]
    assert terms[0] == "cross_entropy" and len(groups) >= 3
    lengths = groups[0].samples.lengths
    for group in groups:  # within the budget, unless a single sentence is longer
        assert len(group.rows) == 1 or int(lengths[group.rows].sum()) <= 5
    assert sorted(torch.cat([g.rows for g in groups]).tolist()) == list(range(8))
    got = backward_terms(LossModule(parts), batch, terms)
    assert got.keys() == logs.keys()
    for key in logs:
        assert got[key] == pytest.approx(logs[key], rel=1e-5)
    for a, b in zip(whole.parameters(), parts.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    with pytest.raises(ValueError, match="unknown loss term 'reward'"):
        parts.loss(batch, "reward")


def _other_image_and_class(batch: CaptionBatch) -> tuple[CaptionBatch, CaptionBatch]:
    image = dataclasses.replace(batch, features=torch.rand_like(batch.features))
    label = dataclasses.replace(batch, class_ids=(batch.class_ids + 1) % C)
    return image, label


@pytest.mark.parametrize(
    ("factory", "reads_image", "reads_class", "reinforce"),
    [
        (build_lrcn, True, False, False),
        (build_definition, False, True, False),
        (build_explanation_label, True, True, False),
        (build_explanation_discriminative, True, False, True),
        (build_gve, True, True, True),
    ],
)
def test_the_papers_ablations_read_what_they_should(factory, reads_image, reads_class, reinforce):
    options = ReinforceOptions() if reinforce else None
    torch.manual_seed(0)
    model, batch = factory(ModelShape(V, D, C, E, H, 0.5, 50), options).eval(), _batch()
    other_image, other_class = _other_image_and_class(batch)
    loss = model.caption_loss(batch)
    assert reads_image != torch.equal(loss, model.caption_loss(other_image))
    assert reads_class != torch.equal(loss, model.caption_loss(other_class))
    assert reinforce == hasattr(model, "loss_terms")
    assert (model.image is not None) == reads_image  # no unused image parameters


def test_the_reward_uses_the_classifiers_dropout_from_the_second_epoch_as_the_original():
    model, batch = _gve(reward_dropout_from=1), _batch()
    classifier = model.sentence_classifier
    tokens, lengths, classes = batch.tokens, batch.lengths, batch.class_ids
    model.start_epoch(0)  # the first epoch: the classifier as loaded, in eval mode
    first = model.reward(tokens, lengths, classes)
    assert torch.equal(first, model.reward(tokens, lengths, classes))
    classifier.eval()
    expected = torch.softmax(classifier(tokens, lengths), 1).gather(1, classes[:, None])
    torch.testing.assert_close(first, expected.squeeze(1).float())
    model.start_epoch(1)  # then with its dropout on, as a train-mode submodule
    torch.manual_seed(4)
    second = model.reward(tokens, lengths, classes)
    classifier.train()
    torch.manual_seed(4)
    expected = torch.softmax(classifier(tokens, lengths), 1).gather(1, classes[:, None])
    torch.testing.assert_close(second, expected.squeeze(1).detach().float())
    assert not torch.equal(second, first)
    assert all(p.grad is None and not p.requires_grad for p in classifier.parameters())


@pytest.mark.parametrize(
    ("mode", "epochs_on"), [("original", [1, 2]), ("never", []), ("always", [0, 1, 2])]
)
def test_reward_dropout_modes_map_to_the_epochs_it_is_on(mode, epochs_on):
    config = TrainConfig(model="gve", dataset="cub", model_options={"reward_dropout": mode})
    model = get_plugins().models.get("gve").build(config, V, D, C)
    on = []
    for epoch in range(3):
        model.start_epoch(epoch)
        if model.reward_dropout:
            on.append(epoch)
    assert on == epochs_on
