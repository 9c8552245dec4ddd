"""gvetool's Adam is torch.optim.Adam, bit for bit, without importing torch's compiler."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import torch

from gvetool.engine.adam import Adam
from gvetool.nn.execution import forced

from .conftest import needs_cuda


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _steps(model: torch.nn.Module, optimizer, first: int, last: int) -> None:
    for step in range(first, last):
        generator = torch.Generator().manual_seed(step)
        inputs = torch.randn(4, 5, generator=generator).to(next(model.parameters()).device)
        optimizer.zero_grad(set_to_none=True)
        loss = model(inputs).square().mean()
        if step == 2:  # one step where a parameter gets no gradient: it must stay untouched
            model[2].bias.requires_grad_(False)
        loss.backward()
        model[2].bias.requires_grad_(True)
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_updates_equal_torch_adam_exactly(weight_decay):
    ours, theirs = _model(), _model()
    _steps(ours, Adam(ours.parameters(), lr=0.01, weight_decay=weight_decay), 0, 6)
    reference = torch.optim.Adam(theirs.parameters(), lr=0.01, weight_decay=weight_decay)
    _steps(theirs, reference, 0, 6)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


def _through_a_file(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_the_foreach_update_equals_the_single_tensor_update(weight_decay):
    """CUDA's choice, run on the CPU: the same operations over all parameters at once,
    bit for bit here (CUDA's multi-tensor kernels may round differently: the next test)."""
    single, batched = _model(), _model()
    _steps(single, Adam(single.parameters(), lr=0.01, weight_decay=weight_decay), 0, 6)
    optimizer = Adam(batched.parameters(), lr=0.01, weight_decay=weight_decay)
    with forced(fused_recurrence=False, compact_sampling=True, foreach_adam=True):
        _steps(batched, optimizer, 0, 6)
    for a, b in zip(single.parameters(), batched.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [float(s["step"]) for s in optimizer.state.values()] == [6.0, 6.0, 6.0, 5.0]


@needs_cuda
def test_on_cuda_adam_updates_all_parameters_at_once_as_the_single_tensor_update_does():
    single, batched = _model().cuda(), _model().cuda()
    with forced(fused_recurrence=True, compact_sampling=False, foreach_adam=False):
        _steps(single, Adam(single.parameters(), lr=0.01), 0, 6)
    _steps(batched, Adam(batched.parameters(), lr=0.01), 0, 6)  # the device's choice
    for a, b in zip(single.parameters(), batched.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_state_moves_between_torch_adam_and_ours():
    """Checkpoints written with torch.optim.Adam resume with ours, and the other way."""
    a, b, c = _model(), _model(), _model()
    first = torch.optim.Adam(a.parameters(), lr=0.01)
    _steps(a, first, 0, 3)
    b.load_state_dict(a.state_dict())
    second = Adam(b.parameters(), lr=0.01)
    second.load_state_dict(_through_a_file(first.state_dict()))
    _steps(a, first, 3, 6)
    _steps(b, second, 3, 6)
    c.load_state_dict(b.state_dict())
    third = torch.optim.Adam(c.parameters(), lr=0.01)
    third.load_state_dict(_through_a_file(second.state_dict()))
    _steps(b, second, 6, 8)
    _steps(c, third, 6, 8)
    _steps(a, first, 6, 8)
    for x, y, z in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(x, y) and torch.equal(y, z)


def test_state_of_another_model_is_refused():
    optimizer = Adam(_model().parameters())
    other = torch.nn.Linear(5, 2)
    saved = torch.optim.Adam(other.parameters())
    other(torch.ones(1, 5)).sum().backward()
    saved.step()
    with pytest.raises(ValueError, match="2 parameters, the model has 4"):
        optimizer.load_state_dict(saved.state_dict())
    bigger = _model()
    bigger[0] = torch.nn.Linear(5, 8)
    wrong = torch.optim.Adam(bigger.parameters())
    bigger[0](torch.ones(1, 5)).sum().backward()
    wrong.step()
    with pytest.raises(ValueError, match=r"shape \(8, 5\), the model's is \(7, 5\)"):
        optimizer.load_state_dict(wrong.state_dict())


def test_training_start_up_imports_no_compiler_and_no_scikit_learn():
    """torch._dynamo (+1 s, +145 MB) and scikit-learn (+0.8 s, +80 MB) stay out of training."""
    code = (
        "import sys, torch\n"
        "import gvetool.engine.trainer\n"
        "from gvetool.engine.adam import Adam\n"
        "model = torch.nn.Linear(3, 2)\n"
        "optimizer = Adam(model.parameters())\n"
        "model(torch.ones(1, 3)).sum().backward()\n"
        "optimizer.step()\n"
        "print(sorted(m for m in ('torch._dynamo', 'sklearn', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
