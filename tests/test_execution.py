"""The GPU path's choices, run on the CPU: each pair of implementations computes the same.

On CUDA, teacher-forced passes go through ``torch.lstm`` (cuDNN) and sampling keeps the
whole batch stepping; on a CPU, the packed loop and compact sampling. ``forced`` runs the
CUDA choices here, through the very code CUDA takes (``torch.lstm`` has a CPU kernel).
"""

from __future__ import annotations

import functools

import pytest
import torch

from gvetool.builtins.models.captioner import _select_rows
from gvetool.builtins.models.gve import GVE, ReinforcePart, Samples
from gvetool.builtins.models.sentence_classifier import SentenceClassifier
from gvetool.config.schema import PRECISION_NAMES, TrainConfig
from gvetool.data.vocab import Vocabulary
from gvetool.engine import steps
from gvetool.engine.distributed import Distributed
from gvetool.engine.precision import DTYPES, autocast, cuda_products
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.kernel.batch import CaptionBatch
from gvetool.nn.decoding import decode
from gvetool.nn.execution import Execution, execution_for, forced
from gvetool.nn.graphed_decoding import FixedBatchStep, flatten, unflatten
from gvetool.nn.lstm import PackedLSTM, Packing
from gvetool.nn.sampling import draw_words
from gvetool.utils.errors import GvetoolError

from .conftest import needs_cuda

V, D, C, E, H = 14, 6, 3, 5, 8
CUDA_PATH = {"fused_recurrence": True, "compact_sampling": False}
CUDA_CHOICES = {
    **CUDA_PATH,
    "graphed_decoding": True,
    "rescoring_tokens": 0,
    "foreach_adam": True,
    "captured_steps": True,
}
CPU_PATH = {"fused_recurrence": False, "compact_sampling": True}
CPU_CHOICES = {**CPU_PATH, "reinforce_through_sampling": True}


def _gve(dropout: float = 0.3) -> GVE:
    torch.manual_seed(0)
    model = GVE(V, D, C, E, H, dropout=dropout, max_len=12)
    model.attach_sentence_classifier(SentenceClassifier(V, C, E, H))
    with torch.no_grad():
        model.out.bias[Vocabulary.end_id] += 1.5
    return model


def _batch(n: int = 6, width: int = 7) -> CaptionBatch:
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, width + 1, (n,), generator=generator)
    tokens = torch.randint(4, V, (n, width), generator=generator)
    tokens[torch.arange(width)[None, :] >= lengths[:, None]] = 0
    tokens[torch.arange(n), lengths - 1] = Vocabulary.end_id
    classes = torch.randint(0, C, (n,), generator=generator)
    return CaptionBatch(
        torch.rand(n, D, generator=generator), tokens, lengths, classes, torch.arange(n)
    )


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_the_device_picks_the_implementations():
    assert execution_for(torch.device("cuda", 0)) == Execution(**CUDA_CHOICES)
    cpu = Execution(**CPU_CHOICES)
    assert execution_for(torch.device("cpu")) == cpu
    with forced(**CUDA_PATH):
        assert execution_for(torch.device("cpu")) == Execution(**CUDA_PATH)
    assert execution_for(torch.device("cpu")) == cpu


@pytest.mark.parametrize("wide_input", [False, True])
def test_fused_recurrence_equals_the_packed_loop_forward_and_backward(wide_input):
    torch.manual_seed(0)
    lstm = PackedLSTM(5, 4)
    packing = Packing.from_lengths(torch.tensor([5, 3, 3, 1]))
    columns = 9 if wide_input else 5
    # LSTM 2's case: blocks of columns (image, class, LSTM 1 output), a weight each
    extra = [torch.randn(16, w, requires_grad=True) for w in (3, 1, 5)] if wide_input else None
    inputs = torch.randn(sum(packing.batch_sizes), columns, requires_grad=True)
    results = []
    for path in (CPU_PATH, CUDA_PATH):
        with forced(**path):
            outputs = lstm(inputs, packing, weight_ih=extra)
        used = extra if extra is not None else [lstm.weight_ih]
        weights = [inputs, *used, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh]
        results.append((outputs, torch.autograd.grad((outputs**2).sum(), weights)))
    (loop, loop_grads), (fused, fused_grads) = results
    torch.testing.assert_close(fused, loop)
    for got, want in zip(fused_grads, loop_grads, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("train", [True, False])
def test_a_gve_step_computes_the_same_on_either_recurrence(train):
    """Loss terms and gradients of a whole step, dropout masks and samples included.

    In float64: the two recurrences add in different orders, and float32's rounding
    differences depend on the CPU's kernels; float64 keeps them far below the tolerance.
    """
    batch, results = _batch().to("cpu", dtype=torch.float64), []
    for fused in (False, True):
        model = _gve().train(train).double()
        with forced(fused_recurrence=fused, compact_sampling=True):
            torch.manual_seed(7)
            terms = model.loss_terms(batch)
            logs = backward_terms(LossModule(model), batch, terms)
        results.append((logs, _grads(model)))
    (loop_logs, loop_grads), (fused_logs, fused_grads) = results
    assert fused_logs == pytest.approx(loop_logs, rel=1e-10)
    for got, want in zip(fused_grads, loop_grads, strict=True):
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_fixed_batch_greedy_decoding_equals_compact_decoding():
    model, batch = _gve(dropout=0.0), _batch(n=12)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):  # fit the captions: greedy sentences of the captions' varied lengths
        optimizer.zero_grad()
        model.caption_loss(batch).backward()
        optimizer.step()
    model.eval()
    outputs = []
    for compact in (True, False):
        with forced(fused_recurrence=False, compact_sampling=compact):
            outputs.append(model.generate(batch.features, batch.class_ids, max_len=12))
    (tokens, lengths), (fixed_tokens, fixed_lengths) = outputs
    assert int(lengths.min()) < int(lengths.max()) < 12  # every row ended, at different steps
    assert torch.equal(fixed_lengths, lengths)
    assert torch.equal(fixed_tokens, tokens)


def _check_sampling(model: GVE, device: str) -> None:
    """Sampled sentences end right and their first words follow the model's distribution."""
    n = 6000
    features = torch.rand(1, D).expand(n, D).to(device)
    classes = torch.zeros(n, dtype=torch.long, device=device)
    with torch.no_grad():
        _, first_logits = model._step(
            torch.full((1,), Vocabulary.start_id, device=device),
            (model.lstm1.zero_state(1, features), model.lstm2.zero_state(1, features)),
            model.conditioning(features[:1], classes[:1]),
        )
    expected = torch.softmax(first_logits[0].double(), dim=0).cpu()
    tokens, lengths = (t.cpu() for t in model.generate(features, classes, 12, greedy=False))
    seen = torch.bincount(tokens[:, 0], minlength=V).double() / n
    assert (seen - expected).abs().max() < 0.025
    positions = torch.arange(tokens.shape[1])[None, :]
    assert tokens[positions >= lengths[:, None]].eq(0).all()
    ended = tokens[torch.arange(n), lengths - 1] == Vocabulary.end_id
    assert (ended | (lengths == 12)).all()
    assert not (tokens[positions < lengths[:, None] - 1] == Vocabulary.end_id).any()


@pytest.mark.parametrize("compact", [True, False])
def test_fixed_batch_sampling_ends_sentences_and_samples_the_models_distribution(compact):
    torch.manual_seed(3)
    with forced(fused_recurrence=False, compact_sampling=compact):
        _check_sampling(_gve().eval(), "cpu")


def test_precisions_are_the_configs_and_fp32_changes_nothing():
    assert tuple(DTYPES) == PRECISION_NAMES
    with autocast("fp32", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(GvetoolError, match="precision must be one of fp32, bf16"):
        TrainConfig(model="lrcn", dataset="synth", precision="fp16").validate()


def test_fp32_means_float32_on_cuda_too_and_tf32_is_asked_for():
    """PyTorch's own default runs cuDNN (an ``nn.LSTM``) in TF32 where the card has it."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = matmul.allow_tf32, cudnn.allow_tf32
    matmul.allow_tf32, cudnn.allow_tf32 = False, True  # PyTorch's defaults
    try:
        for precision, wanted in (
            ("fp32", False),
            ("bf16", False),
            ("fp64", False),
            ("tf32", True),
        ):
            with cuda_products(precision):
                assert (matmul.allow_tf32, cudnn.allow_tf32) == (wanted, wanted)
            assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, True)  # given back
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before
    with pytest.raises(GvetoolError, match="precision tf32 runs float32 products on CUDA"):
        TrainConfig(model="lrcn", dataset="synth", precision="tf32").validate()
    TrainConfig(model="lrcn", dataset="synth", precision="tf32", device="cuda:1").validate()


@pytest.mark.parametrize("path", [CPU_PATH, CPU_CHOICES, CUDA_PATH])
def test_bf16_autocast_step_stays_close_to_fp32(path):
    batch, results = _batch(n=8), []
    for precision in ("fp32", "bf16"):
        model = _gve(dropout=0.0).train()
        context = functools.partial(autocast, precision, torch.device("cpu"))
        with forced(**path):
            torch.manual_seed(7)
            with context():
                terms = model.loss_terms(batch)
            logs = backward_terms(LossModule(model), batch, terms[:1], context)
        results.append((logs["loss"], torch.cat([g.flatten() for g in _grads(model)])))
    (loss, grads), (low_loss, low_grads) = results
    assert low_loss == pytest.approx(loss, rel=2e-2)
    assert torch.isfinite(low_grads).all()
    assert torch.nn.functional.cosine_similarity(low_grads, grads, dim=0) > 0.99


def test_bf16_autocast_reinforce_through_sampling_backpropagates_on_the_cpus_path():
    """The kept activations are bf16 under autocast, and their graph takes them as such."""
    batch, model = _batch(n=8), _gve(dropout=0.0).train()
    context = functools.partial(autocast, "bf16", torch.device("cpu"))
    with forced(**CPU_CHOICES):
        torch.manual_seed(7)
        with context():
            terms = model.loss_terms(batch)
        assert getattr(terms[1], "kept", None) is not None  # backpropagated through sampling
        backward_terms(LossModule(model), batch, terms, context)
    grads = _grads(model)
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_cuda_training_pins_batches_for_asynchronous_copies(monkeypatch, tiny_cub):
    """The pinning decision, on a CPU: ``pin_memory`` itself needs a CUDA driver."""
    pinned = []
    monkeypatch.setattr(CaptionBatch, "pin_memory", lambda self: pinned.append(self) or self)
    from gvetool.data.captions import CaptionExamples
    from gvetool.data.open import open_configured

    config = TrainConfig(model="lrcn", dataset="cub", data_root=str(tiny_cub))
    corpus = open_configured(config)
    from gvetool.data.image_features import ExtractionOptions, build_encoder

    store = build_encoder("precomputed").open_store(corpus, None, ExtractionOptions(8, "cpu", 0))
    split = corpus.split("train")
    examples = CaptionExamples(split, Vocabulary.from_tokens(split.tokens(), 1), store)
    batches = steps.epoch_batches(len(examples), 4, 0, 0, 1)[:3]
    dist = Distributed.from_env()
    assert len(list(steps.batches_of(examples, batches, config, dist, pin=True))) == 3
    assert len(pinned) == 3
    list(steps.batches_of(examples, batches, config, dist, pin=False))
    assert len(pinned) == 3


def _gve_on(device: str, dropout: float = 0.0) -> GVE:
    model = _gve(dropout).to(device)
    assert model.sentence_classifier is not None
    model.sentence_classifier.to(device)
    return model


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_cuda_step_computes_what_the_cpu_step_computes(precision):
    """Same weights, batch and samples: the CUDA path's losses and gradients are the CPU's."""
    batch = _batch(n=8)
    torch.manual_seed(7)
    samples = _gve_on("cpu").sample_for_reinforce(batch)
    results = []
    for device in ("cpu", "cuda"):
        model, moved = _gve_on(device).train(), batch.to(device)
        part = ReinforcePart(
            Samples(*(getattr(samples, f).to(device) for f in Samples.__dataclass_fields__)),
            torch.arange(8, device=device),
        )
        context = functools.partial(autocast, precision, torch.device(device))
        logs = backward_terms(LossModule(model), moved, ["cross_entropy", part], context)
        results.append((logs, [g.cpu() for g in _grads(model)]))
    (cpu_logs, cpu_grads), (cuda_logs, cuda_grads) = results
    tolerance = 2e-2 if precision == "bf16" else 1e-3
    assert cuda_logs == pytest.approx(cpu_logs, rel=tolerance)
    for got, want in zip(cuda_grads, cpu_grads, strict=True):
        if precision == "fp32":
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-5)
        else:
            cosine = torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0)
            assert cosine > 0.99


def _fitted(batch: CaptionBatch) -> GVE:
    """A tiny GVE fitted to ``batch``: greedy sentences of the captions' varied lengths."""
    model = _gve(dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        model.caption_loss(batch).backward()
        optimizer.step()
    return model.eval()


@needs_cuda
def test_cuda_decoding_captured_as_a_graph_equals_the_cpus_and_sees_weight_updates():
    batch = _batch(n=12)
    model = _fitted(batch)
    tokens, lengths = model.generate(batch.features, batch.class_ids, max_len=12)
    model.cuda()
    features, classes = batch.features.cuda(), batch.class_ids.cuda()
    for _ in range(2):  # capture, then replay the cached graph
        cuda_tokens, cuda_lengths = model.generate(features, classes, max_len=12)
        assert torch.equal(cuda_lengths.cpu(), lengths)
        assert torch.equal(cuda_tokens.cpu(), tokens)
    assert len(model.decoding_graphs) == 1
    with torch.no_grad():  # an in-place update, as the optimizer makes: the graph sees it
        model.out.bias[Vocabulary.end_id] += 3.0
    graphed = model.generate(features, classes, max_len=12)
    with forced(**CUDA_PATH):  # the same step, launched kernel by kernel
        launched = model.generate(features, classes, max_len=12)
    assert not torch.equal(graphed[1], cuda_lengths)
    for got, want in zip(graphed, launched, strict=True):
        assert torch.equal(got, want)


@needs_cuda
def test_cuda_graphed_sampling_samples_the_models_distribution():
    torch.manual_seed(3)
    _check_sampling(_gve_on("cuda").eval(), "cuda")


@needs_cuda
def test_cuda_graphed_decoding_under_bf16_autocast_matches_launching_each_kernel():
    batch = _batch(n=12)
    model = _fitted(batch).cuda()
    features, classes = batch.features.cuda(), batch.class_ids.cuda()
    with autocast("bf16", torch.device("cuda")):
        graphed = model.generate(features, classes, max_len=12)
        with forced(**CUDA_PATH):
            launched = model.generate(features, classes, max_len=12)
    for got, want in zip(graphed, launched, strict=True):
        assert torch.equal(got, want)


def test_unset_reinforce_tokens_takes_the_devices_bound_and_a_set_one_wins():
    model, batch = _gve(), _batch(n=8)
    torch.manual_seed(7)
    samples = model.sample_for_reinforce(batch)
    assert model.reinforce_tokens is None
    sizes = {}
    for bound in (0, 5):
        with forced(**CPU_PATH, rescoring_tokens=bound):
            sizes[bound] = [len(part.rows) for part in model.reinforce_parts(samples)]
    assert sizes[0] == [8] and len(sizes[5]) > 1
    model.reinforce_tokens = 0
    with forced(**CPU_PATH, rescoring_tokens=5):
        assert [len(part.rows) for part in model.reinforce_parts(samples)] == [8]


def test_drawn_words_follow_the_softmax_and_never_take_an_impossible_word():
    logits = torch.tensor(
        [[0.0, 1.0, float("-inf"), 2.0, -1.0], [5.0, float("-inf"), 0.0, 0.0, 0.0]]
    )
    n = 200_000
    generator = torch.Generator().manual_seed(0)
    words = draw_words(logits.repeat_interleave(n, 0), generator).view(2, n)
    probs = torch.softmax(logits.double(), dim=1)
    for row in range(2):
        seen = torch.bincount(words[row], minlength=5).double() / n
        sigma = (probs[row] * (1 - probs[row]) / n).sqrt()
        assert ((seen - probs[row]).abs() <= 5 * sigma + 1e-12).all(), (seen, probs[row])
    assert not (words[0] == 2).any() and not (words[1] == 1).any()
    again = draw_words(logits.repeat_interleave(n, 0), torch.Generator().manual_seed(0))
    assert torch.equal(again.view(2, n), words)


def test_gradients_are_bitwise_repeatable_on_several_threads():
    """ "Same seed, same weights" needs every backward op to sum in a fixed order. Gathering
    each sentence's image vector per token with ``x[rows]`` scatter-adds its gradient from
    several threads in a varying order on a CPU: LRCN and GVE at the demo's sizes drifted
    by 1e-3 in one epoch between two identical runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        model = GVE(45, 512, 20, embedding_size=128, hidden_size=256, dropout=0.3)
        generator = torch.Generator().manual_seed(1)
        lengths = torch.randint(5, 15, (64,), generator=generator)
        tokens = torch.randint(4, 45, (64, int(lengths.max())), generator=generator)
        tokens[torch.arange(tokens.shape[1])[None, :] >= lengths[:, None]] = 0
        classes = torch.randint(0, 20, (64,), generator=generator)
        features = torch.rand(64, 512, generator=generator)
        batch = CaptionBatch(features, tokens, lengths, classes, torch.arange(64))
        runs = []
        for _ in range(4):
            torch.manual_seed(5)  # the same dropout masks every time
            model.zero_grad()
            model.caption_loss(batch).backward()
            runs.append({name: p.grad.clone() for name, p in model.named_parameters()})
        for other in runs[1:]:
            for name, grad in runs[0].items():
                assert torch.equal(grad, other[name]), name
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("greedy", [True, False])
def test_the_graphed_step_run_uncaptured_decodes_what_fixed_batch_decoding_does(greedy):
    batch = _batch(n=9)
    model = _fitted(batch).eval()
    with torch.no_grad():
        state = model._start_state(model.conditioning(batch.features, batch.class_ids))
        torch.manual_seed(5)
        want = decode(
            model._decode_step,
            _select_rows,
            state,
            9,
            torch.device("cpu"),
            12,
            greedy,
            compact=False,
        )
        torch.manual_seed(5)
        step = FixedBatchStep(model._decode_step, state, 12, greedy)
        for _ in range(12):  # what replaying the captured graph does, kernel by kernel
            step()
    got = step.result()
    assert int(want[1].min()) < 12  # some sentences ended before the cap
    for mine, theirs in zip(got, want, strict=True):
        assert torch.equal(mine, theirs)


def test_a_decoding_state_flattens_to_its_tensors_and_back():
    h, c, offset = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 4), 2.0)
    state = ((h, c), (c, h), offset)
    tensors = flatten(state)
    assert [t is s for t, s in zip(tensors, (h, c, c, h, offset), strict=True)] == [True] * 5
    rebuilt = unflatten(state, [t + 1 for t in tensors])
    assert isinstance(rebuilt[0], tuple) and torch.equal(rebuilt[2], offset + 1)


def test_the_cuda_tests_compare_without_tf32(float32_products):
    assert not torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.allow_tf32
