"""``--cuda-graph``'s step, run eagerly on the CPU: fixed shapes, nothing read back to the
host, the same numbers as the trainer's step.

Every piece is checked against the formulation it replaces (float64, dropout off where the
two draw their masks differently) or a straightforward one with the same masks; the
capture itself needs a GPU (``tests/test_execution.py``'s CUDA tests, and
``benchmarks/gpu_check.sh``).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from gvetool.builtins.models.captioner import Captioner, _select_rows
from gvetool.builtins.models.gve import GVE, _whole
from gvetool.builtins.models.sentence_classifier import SentenceClassifier
from gvetool.cli import main
from gvetool.config.schema import TrainConfig
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.graphed_step import WARMUP_STEPS, GraphedStep
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.kernel.batch import CaptionBatch
from gvetool.nn.decoding import decode
from gvetool.nn.execution import forced
from gvetool.nn.lstm import PackedLSTM, Packing, lstm_cell

from .conftest import needs_cuda
from .test_execution import CUDA_PATH, C, D, E, H, V, _batch, _gve


def _double(batch: CaptionBatch) -> CaptionBatch:
    return CaptionBatch(
        batch.features.double(), batch.tokens, batch.lengths, batch.class_ids, batch.image_index
    )


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]


def _assert_all_close(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_a_padded_layer_equals_the_packed_layer_at_every_real_step():
    torch.manual_seed(0)
    layer = PackedLSTM(5, 8).double()
    lengths = torch.tensor([6, 4, 4, 1])
    inputs = torch.randn(4, 6, 5, dtype=torch.float64, requires_grad=True)
    packing = Packing.from_lengths(lengths)
    weights = torch.randn(len(packing.rows), 8, dtype=torch.float64)
    (layer(packing.pack(inputs), packing) * weights).sum().backward()
    want = [inputs.grad.clone(), *_grads(layer)]
    inputs.grad = None
    layer.zero_grad()
    (packing.pack(layer.padded(inputs)) * weights).sum().backward()
    _assert_all_close([inputs.grad, *_grads(layer)], want)


@pytest.mark.parametrize("training", [False, True])
def test_the_classifiers_fixed_shape_logits_are_its_packed_ones(training):
    """Its dropout masks are drawn over the same padded embeddings, so even with dropout on
    the same seed gives the same logits."""
    torch.manual_seed(0)
    classifier = SentenceClassifier(V, C, E, H).double().train(training)
    batch = _batch()
    torch.manual_seed(5)
    want = classifier(batch.tokens, batch.lengths)
    torch.manual_seed(5)
    got = classifier.forward_fixed_shape(batch.tokens, batch.lengths)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("greedy", [True, False])
def test_decoding_every_step_gives_the_fixed_batch_decoders_sentences(greedy):
    model = _gve().eval()
    batch = _batch()
    torch.manual_seed(3)
    with forced(**CUDA_PATH):
        offset = model.conditioning(batch.features, batch.class_ids)
        want_tokens, want_lengths = decode(
            model._decode_step,
            _select_rows,
            model._start_state(offset),
            len(offset),
            offset.device,
            40,
            greedy,
            compact=False,
        )
    torch.manual_seed(3)
    tokens, lengths = model.fixed_shape_generate(batch.features, batch.class_ids, 40, greedy)
    assert tokens.shape == (len(batch.tokens), 40)
    assert torch.equal(lengths, want_lengths)
    assert torch.equal(tokens[:, : want_tokens.shape[1]], want_tokens)
    assert not tokens[:, want_tokens.shape[1] :].any()


def _captioner(kind: str, dropout: float) -> Captioner:
    if kind == "gve":
        return _gve(dropout)
    torch.manual_seed(0)
    if kind == "definition":  # the paper's class-only ablation: no image input
        return Captioner(V, D, E, H, dropout=dropout, num_classes=C, image_input=False)
    return Captioner(V, D, E, H, dropout=dropout)


@pytest.mark.parametrize("kind", ["lrcn", "gve", "definition"])
def test_the_fixed_shape_cross_entropy_is_the_packed_one(kind):
    """Dropout off (the two draw their masks over other shapes): value and every gradient."""
    model = _captioner(kind, dropout=0.0).double().train()
    batch = _double(_batch(width=9))
    model.caption_loss(batch).backward()
    want = _grads(model)
    model.zero_grad()
    mean_over = torch.tensor(float(batch.lengths.sum())).double()
    loss = model.fixed_shape_caption_loss(batch, mean_over)
    loss.backward()
    torch.testing.assert_close(loss, model.caption_loss(batch))
    _assert_all_close(_grads(model), want)
    if kind == "lrcn":  # its whole loss, logs on the device
        loss, logs = model.fixed_shape_loss(batch, mean_over)
        assert logs["loss"].device == loss.device and torch.equal(logs["loss"], loss.detach())


def _straightforward_cross_entropy(model: GVE, batch: CaptionBatch) -> torch.Tensor:
    """The padded teacher-forced loss, step by step, drawing dropout as the original does:
    over the padded embeddings, the image vector once per sentence, LSTM 2's whole padded
    input and its padded output."""
    tokens, lengths = batch.tokens, batch.lengths
    rows, width = tokens.shape
    p = model.dropout
    start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
    embedded = F.dropout(model.embed(torch.cat([start, tokens[:, :-1]], dim=1)), p)
    image = model.image_vector(batch.features)
    onehot = F.one_hot(batch.class_ids, C).to(image.dtype)
    h1 = c1 = image.new_zeros(rows, H)
    first = []
    for t in range(width):
        h1, c1 = model.lstm1.step(embedded[:, t], (h1, c1))
        first.append(h1)
    inputs = F.dropout(
        torch.cat(
            [
                image[:, None].expand(-1, width, -1),
                onehot[:, None].expand(-1, width, -1),
                torch.stack(first, dim=1),
            ],
            dim=2,
        ),
        p,
    )
    weight_ih = model.lstm2_weight_ih()
    bias = model.lstm2.bias_ih + model.lstm2.bias_hh
    h2 = c2 = image.new_zeros(rows, H)
    second = []
    for t in range(width):
        gates = F.linear(inputs[:, t], weight_ih, bias) + h2 @ model.lstm2.weight_hh.T
        h2, c2 = lstm_cell(gates, c2)
        second.append(h2)
    logits = model.out(F.dropout(torch.stack(second, dim=1), p))
    nll = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
    real = torch.arange(width)[None, :] < lengths[:, None]
    return (nll * real).sum() / lengths.sum()


def test_the_fixed_shape_cross_entropy_draws_dropout_where_the_original_does():
    model = _gve(dropout=0.4).double().train()
    batch = _double(_batch(width=9))
    torch.manual_seed(11)
    _straightforward_cross_entropy(model, batch).backward()
    want = _grads(model)
    model.zero_grad()
    torch.manual_seed(11)
    mean_over = torch.tensor(float(batch.lengths.sum())).double()
    model.fixed_shape_caption_loss(batch, mean_over).backward()
    _assert_all_close(_grads(model), want)


@pytest.mark.parametrize("baseline", ["none", "mean", "greedy"])
def test_gves_fixed_shape_reinforce_is_its_reinforce_on_the_same_samples(baseline):
    """Samples of every length (some cut at max_len): rewards, advantages, the loss and
    every gradient as the trainer's terms compute them."""
    model = _gve(dropout=0.0).double().train()
    model.baseline, model.max_len = baseline, 6
    batch = _double(_batch())
    torch.manual_seed(2)
    tokens, lengths = model.fixed_shape_generate(
        batch.features, batch.class_ids, model.max_len, False
    )
    assert lengths.max() == model.max_len and lengths.min() < model.max_len
    samples = model._scored(batch, tokens, lengths, fixed_shape=True)
    want_samples = model._scored(batch, tokens[:, : int(lengths.max())], lengths)
    torch.testing.assert_close(samples.advantage, want_samples.advantage)
    cross_entropy = model.caption_loss(batch)
    loss, logs = model._with_fixed_shape_reinforce(batch, samples, cross_entropy)
    loss.backward()
    got = _grads(model)
    model.zero_grad()
    reinforce = model.reinforce_part_loss(batch, _whole(want_samples))
    want_loss = model.caption_loss(batch) + model.reinforce_weight * reinforce
    want_loss.backward()
    torch.testing.assert_close(loss, want_loss)
    torch.testing.assert_close(logs["reward"], want_samples.reward.mean())
    _assert_all_close(got, _grads(model))


def _steps_apart(model: GVE, batches: list[CaptionBatch]) -> list[torch.Tensor]:
    """The trainer's eager step on the CUDA path (sampling every row, re-scoring), for
    these batches: the weights after each."""
    optimizer = Adam(model.parameters(), lr=0.01)
    weights = []
    with forced(**CUDA_PATH, rescoring_tokens=0):
        for batch in batches:
            optimizer.zero_grad()
            backward_terms(LossModule(model), batch, model.loss_terms(batch))
            optimizer.step()
            weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return weights


def test_the_eager_fixed_shape_step_trains_as_the_trainers_step():
    """Five steps of GVE with dropout off and max_len under the fixed-batch decoder's first
    check for an early end (so both draw the same random numbers): the same samples, so
    the same weights within float rounding, batches of other widths and a last smaller one
    included."""
    batches = [_double(_batch(n=6, width=w)) for w in (5, 7, 3, 7)] + [_double(_batch(n=4))]
    for batch in batches:
        batch.ce_tokens = 0.0
    model = _gve(dropout=0.0).double()
    model.max_len = 7
    torch.manual_seed(4)
    want = _steps_apart(model, batches)
    model = _gve(dropout=0.0).double()
    model.max_len = 7
    optimizer = Adam(model.parameters(), lr=0.01)
    step = GraphedStep(model, optimizer, 9, contextlib.nullcontext, capture=False)
    torch.manual_seed(4)
    for batch, expected in zip(batches, want, strict=True):
        output = step(batch)
        assert output.logs["reward"].dim() == 0
        got = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.testing.assert_close(got, expected)
    assert step.skipped_steps() == [False] * len(batches)


def test_adams_device_step_is_its_step_and_a_skipped_one_moves_nothing():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    host, device = Adam(params, lr=0.01, weight_decay=0.1), Adam(twins, lr=0.01, weight_decay=0.1)
    for index in range(4):
        for p, twin in zip(params, twins, strict=True):
            p.grad = torch.randn_like(p)
            twin.grad = p.grad.clone()
        if index == 0:  # a skipped first step: no state moves, and none is owed
            device.device_step(torch.tensor(True))
            assert all(torch.equal(p, t) for p, t in zip(params, twins, strict=True))
        host.step()
        device.device_step(torch.tensor(False))
        _assert_all_close(list(twins), list(params))
    before = [t.detach().clone() for t in twins]
    state = {i: {k: v.clone() for k, v in s.items()} for i, s in device.state.items()}
    for twin in twins:
        twin.grad = torch.full_like(twin, float("nan"))
    device.device_step(torch.tensor(True))
    assert all(torch.equal(a, b) for a, b in zip(before, twins, strict=True))
    assert all(torch.equal(state[i][k], device.state[i][k]) for i in state for k in state[i])
    assert float(device.state[0]["step"]) == 4


def test_a_step_with_a_non_finite_loss_is_skipped_and_reported():
    model = _gve()
    optimizer = Adam(model.parameters(), lr=0.01)
    step = GraphedStep(model, optimizer, 9, contextlib.nullcontext, capture=False)
    step(_batch())
    before = [p.detach().clone() for p in model.parameters()]
    broken = _batch()
    broken.features[0, 0] = float("nan")
    step(broken)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    step(_batch())
    assert step.skipped_steps() == [False, True, False]
    assert step.skipped_steps() == []


def _train(root, out, model: str, *extra: str) -> int:
    return main(
        [
            "train",
            model,
            "--dataset",
            "cub",
            "--data-root",
            str(root),
            "--out",
            str(out),
            "--hidden-size",
            "16",
            "--embedding-size",
            "16",
            "--batch-size",
            "8",
            "--epochs",
            "2",
            "--val-metrics",
            "cider",
            *extra,
        ]
    )


def _on_the_cpu_too(monkeypatch) -> None:
    """Let --cuda-graph through on a CPU: the trainer then runs the captured step eagerly."""
    validate = TrainConfig.validate

    def validate_on_cuda(config: TrainConfig) -> None:
        validate(TrainConfig(**{**config.__dict__, "device": "cuda"}))

    monkeypatch.setattr(TrainConfig, "validate", validate_on_cuda)


def test_the_trainer_runs_the_fixed_shape_step_of_sc_then_gve(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    _on_the_cpu_too(monkeypatch)
    calls = []
    loss = GVE.fixed_shape_loss

    def counted(self, batch, mean_over):
        calls.append(batch.tokens.shape)
        return loss(self, batch, mean_over)

    monkeypatch.setattr(GVE, "fixed_shape_loss", counted)
    assert _train(tiny_cub_master, tmp_path, "sc") == 0
    assert _train(tiny_cub_master, tmp_path, "gve", "--cuda-graph") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("epoch 2/2") and "reward" in line for line in lines)
    # 36 training captions: four full batches and one of 4 an epoch, all padded alike
    assert [rows for rows, _ in calls] == [8, 8, 8, 8, 4] * 2
    assert len({width for _, width in calls}) == 1


def test_a_model_without_a_fixed_shape_loss_is_refused(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    _on_the_cpu_too(monkeypatch)
    assert _train(tiny_cub_master, tmp_path, "sc", "--cuda-graph") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: model 'sc' has no fixed_shape_loss, which --cuda-graph captures; "
        "train it without --cuda-graph"
    )


def test_a_reward_model_without_a_fixed_shape_forward_is_refused():
    """A plugin's classifier may lack it: one line before any step, not a traceback at
    the capture."""
    from types import SimpleNamespace

    from gvetool.engine.trainer import _graphed_step
    from gvetool.utils.errors import GvetoolError

    class PacksOnly(torch.nn.Module):  # the SentenceClassifierModel contract, no more
        def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
            return torch.zeros(len(tokens), C)

    model = _gve()
    model.attach_sentence_classifier(PacksOnly())
    run = SimpleNamespace(
        config=TrainConfig(model="gve", cuda_graph=True), dist=SimpleNamespace(world=1), model=model
    )
    with pytest.raises(
        GvetoolError,
        match="the reward model of 'gve' has no forward_fixed_shape, which --cuda-graph captures",
    ):
        _graphed_step(run, contextlib.nullcontext)


def test_a_skipped_step_stops_training_where_the_logs_are_read(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    _on_the_cpu_too(monkeypatch)
    loss = Captioner.fixed_shape_loss
    calls = []

    def failing_third(self, batch, mean_over):
        calls.append(1)
        value, logs = loss(self, batch, mean_over)
        return (value * float("nan") if len(calls) == 3 else value), logs

    monkeypatch.setattr(Captioner, "fixed_shape_loss", failing_third)
    assert _train(tiny_cub_master, tmp_path, "lrcn", "--cuda-graph") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        "training stopped: the loss or a gradient became non-finite (its update was "
        "skipped) at epoch 1, step 3;" in err
    )
    assert len(calls) == 5  # read at the epoch's end, its fifth step (under LOG_EVERY)


def test_cuda_graphs_on_a_cpu_are_refused_in_one_line(tmp_path, capsys):
    assert _train(tmp_path, tmp_path, "lrcn", "--cuda-graph") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: --cuda-graph captures training steps as CUDA graphs, which need "
        "a GPU: give --device cuda, or train without --cuda-graph"
    )


def _on_cuda(batch: CaptionBatch) -> CaptionBatch:
    return batch.to(torch.device("cuda"))


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()


def _weights_after(
    model: torch.nn.Module, batches: list[CaptionBatch], capture: bool, precision: str = "fp32"
) -> list[torch.Tensor]:
    from gvetool.engine.precision import autocast

    optimizer = Adam(model.parameters(), lr=0.01)
    context = lambda: autocast(precision, torch.device("cuda"))  # noqa: E731
    step = GraphedStep(model, optimizer, 9, context, capture=capture)
    torch.manual_seed(4)
    weights = []
    for index, batch in enumerate(batches):
        if index == len(batches) - 2:
            step.forget()  # as at an epoch's start: captured again
        step(batch)
        weights.append(_flat(model))
    assert step.skipped_steps() == [False] * len(batches)
    return weights


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_captured_step_replays_the_eager_steps_numbers(precision):
    """Warm-up, capture, replays, a smaller last batch (its own graph) and a recapture: the
    same random numbers (the graph advances the CUDA generator as eager kernels do), so
    the same weights after every step within float rounding."""
    sizes = [6, 6, 6, 6, 6, 4, 6, 6, 6]
    batches = [_on_cuda(_batch(n=n, width=7)) for n in sizes]
    want = _weights_after(_gve().cuda(), batches, capture=False, precision=precision)
    got = _weights_after(_gve().cuda(), batches, capture=True, precision=precision)
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"after step {index + 1}")


@needs_cuda
def test_a_captured_step_computes_what_the_cpus_eager_step_computes():
    """LRCN with dropout off (nothing random): CUDA's captured step against the CPU's."""
    batches = [_batch(n=6, width=w) for w in (7, 5, 7, 7, 6)]
    torch.manual_seed(0)
    cpu = Captioner(V, D, E, H, dropout=0.0)
    cuda = Captioner(V, D, E, H, dropout=0.0).cuda()
    cuda.load_state_dict(cpu.state_dict())
    step = GraphedStep(
        cpu, Adam(cpu.parameters(), lr=0.01), 9, contextlib.nullcontext, capture=False
    )
    want = []
    for batch in batches:
        step(batch)
        want.append(_flat(cpu))
    got = _weights_after(cuda, [_on_cuda(b) for b in batches], capture=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_a_captured_step_with_a_non_finite_loss_moves_nothing():
    model = _gve().cuda()
    step = GraphedStep(model, Adam(model.parameters(), lr=0.01), 9, contextlib.nullcontext)
    for _ in range(4):  # two warm-up steps, the capture, a replay
        step(_on_cuda(_batch()))
    before = _flat(model)
    broken = _batch()
    broken.features[0, 0] = float("nan")
    step(_on_cuda(broken))
    assert torch.equal(_flat(model), before)
    step(_on_cuda(_batch()))
    assert step.skipped_steps() == [False] * 4 + [True, False]


class _HostReads(TorchFunctionMode):
    """Records every call that makes the host wait for a device tensor's values: reading
    them (``item``, ``float``, ``bool``, ``tolist``, ``cpu``...) or an operation whose
    result's shape depends on them (``nonzero``, indexing by a boolean mask)."""

    READS = (
        Tensor.item,
        Tensor.tolist,
        Tensor.cpu,
        Tensor.numpy,
        Tensor.__bool__,
        Tensor.__int__,
        Tensor.__float__,
        Tensor.__index__,
        Tensor.nonzero,
        torch.nonzero,
        Tensor.masked_select,
        torch.masked_select,
        Tensor.unique,
        torch.unique,
        torch.argwhere,
    )

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in self.READS:
            self.seen.append(func.__name__)
        elif func in (Tensor.__getitem__, Tensor.__setitem__):
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            if any(isinstance(i, Tensor) and i.dtype == torch.bool for i in index):
                self.seen.append("a boolean mask's rows")
            if any(isinstance(i, Tensor) and i.dim() == 0 for i in index):
                self.seen.append("a 0-dim tensor as an index")  # read as a Python int
        return func(*args, **(kwargs or {}))


def test_the_fixed_shape_step_never_makes_the_host_wait_for_the_device():
    """On a CPU nothing waits, but the calls that would on CUDA can be seen: the step a
    graph captures makes none of them (the trainer's eager step makes many)."""
    batches = [_batch(), _batch(n=6, width=5)]
    for batch in batches:
        batch.ce_tokens = float(batch.lengths.sum())
    for baseline in ("none", "mean", "greedy"):
        model = _gve()
        model.baseline = baseline
        step = GraphedStep(
            model,
            Adam(model.parameters(), lr=0.01),
            9,
            contextlib.nullcontext,
            grad_clip=1.0,
            capture=False,
        )
        step(batches[0])  # Adam's state created
        with _HostReads() as reads:
            step(batches[1])
        assert reads.seen == [], baseline
    with _HostReads() as reads, forced(**CUDA_PATH, rescoring_tokens=0):
        backward_terms(LossModule(model), batches[1], model.loss_terms(batches[1]))
    assert {"__int__", "__float__", "tolist", "cpu"} <= set(reads.seen)


@needs_cuda
def test_the_fixed_shape_step_never_synchronises_on_cuda():
    """CUDA's own detector: any synchronising call inside the step raises."""
    model = _gve().cuda()
    step = GraphedStep(
        model, Adam(model.parameters(), lr=0.01), 9, contextlib.nullcontext, capture=False
    )
    batch = _on_cuda(_batch())
    batch.ce_tokens = float(batch.lengths.sum())
    step(batch)
    torch.cuda.set_sync_debug_mode("error")
    try:
        step(batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_the_benchmarks_length_fixture_never_makes_the_host_wait(monkeypatch):
    """benchmarks/train_step.py's fixture runs inside captured decoding graphs on CUDA,
    where a read of a device value (a 0-dim tensor used as an index) raises."""
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "train_step.py"
    spec = importlib.util.spec_from_file_location("train_step_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclasses look it up
    monkeypatch.syspath_prepend(str(path.parent))  # its sibling modules
    spec.loader.exec_module(bench)
    layer = bench.SentenceLengths(torch.nn.Linear(4, 10), batch=3)
    with _HostReads() as reads:
        first, second = layer(torch.randn(3, 4)), layer(torch.randn(3, 4))
    assert reads.seen == []
    assert int(layer.step) == 2 and first.shape == second.shape == (3, 10)


def test_the_captured_steps_autocast_is_the_one_it_is_entered_in(monkeypatch):
    """GraphedStep builds the cache-free autocast before it enters --precision's autocast:
    read at construction, it would turn bf16 off for every replay (issue 36, item 1).
    CUDA's autocast flags are thread-local state, settable without a GPU."""
    from gvetool.nn.graphed_decoding import without_weight_cache

    monkeypatch.setattr("torch.cuda.amp.common.amp_definitely_not_available", lambda: False)
    built_outside = without_weight_cache()
    before = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
    torch.set_autocast_enabled("cuda", True)
    torch.set_autocast_dtype("cuda", torch.float16)
    try:
        with built_outside:
            inside = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
    finally:
        torch.set_autocast_enabled("cuda", before[0])
        torch.set_autocast_dtype("cuda", before[1])
    assert inside == (True, torch.float16)


class _FakeCuda:
    """Stand-ins for the CUDA calls a captured decoding makes, recording the device current
    at each capture and replay and how each capture was asked for."""

    def __init__(self, monkeypatch) -> None:
        self.current: torch.device | None = None  # no guard entered: the process's own
        self.captures: list[tuple[torch.device | None, str]] = []
        self.replays: list[torch.device | None] = []
        fake = self

        class Device(contextlib.AbstractContextManager):
            def __init__(self, device) -> None:
                self.device = torch.device(device)

            def __enter__(self):
                self.before, fake.current = fake.current, self.device

            def __exit__(self, *exc):
                fake.current = self.before

        class Graph:
            def replay(self) -> None:
                fake.replays.append(fake.current)

        @contextlib.contextmanager
        def graph(cuda_graph, capture_error_mode="global", **kwargs):
            fake.captures.append((fake.current, capture_error_mode))
            yield

        class Stream:
            def __init__(self, *args, **kwargs) -> None:
                pass

            def wait_stream(self, other) -> None:
                pass

        monkeypatch.setattr(torch.cuda, "device", Device)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", graph)
        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream())
        monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())


def test_decoding_graphs_capture_and_replay_under_their_tensors_device(monkeypatch):
    """On a host of several GPUs, a graph of cuda:1's tensors must be captured and
    replayed with cuda:1 current, whichever device the process's current one is (issue 36,
    item 3), and a capture must err only for its own thread's CUDA calls, not a DataLoader
    pin thread's (item 4). CUDA is stood in for: the guard must name the tensors' device."""
    from gvetool.nn.graphed_decoding import DecodingGraphs

    cuda = _FakeCuda(monkeypatch)

    def step(state, words):
        return state, torch.zeros(len(words), 8).index_fill(1, torch.tensor([2]), 1.0)

    state = torch.zeros(3, 4)
    DecodingGraphs().generate(step, state, 5, True, (0,))
    assert cuda.captures == [(state.device, "thread_local")]
    assert cuda.replays and set(cuda.replays) == {state.device} and cuda.current is None


def test_the_captured_training_step_is_captured_per_thread_under_its_device(monkeypatch):
    cuda = _FakeCuda(monkeypatch)
    model = _gve()
    step = GraphedStep(model, Adam(model.parameters(), lr=0.01), 9, contextlib.nullcontext)
    batch = _batch()
    batch.ce_tokens = float(batch.lengths.sum())
    for _ in range(WARMUP_STEPS + 2):  # warm-ups, the capture, a replay
        step(batch)
    assert cuda.captures[-1] == (batch.features.device, "thread_local")
    assert cuda.replays and set(cuda.replays) == {batch.features.device}
