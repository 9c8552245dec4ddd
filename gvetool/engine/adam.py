"""Adam (Kingma & Ba, 2015), exactly as ``torch.optim.Adam`` computes it on a CPU.

Why not ``torch.optim.Adam`` itself: every ``torch.optim`` optimizer imports
``torch._dynamo`` (and with it Triton) the first time it is constructed or stepped, to
guard against being compiled. On this CUDA build of torch that costs about a second and
145 MB of resident memory in every training process — a tenth of the memory budget of a
CUB-size GVE run — for a compiler the training loop never uses.

The update is torch's single-tensor Adam (its default on CPU tensors), operation for
operation, so results are bitwise identical (tested against ``torch.optim.Adam``), and
``state_dict`` has torch's layout, so checkpoints move between the two. One difference, on
purpose: the denominator is built in place, so a step needs one temporary the size of the
largest parameter instead of two.

On CUDA (the execution policy's ``foreach_adam``) the same operations run over all
parameters at once (``torch._foreach_*``, torch's multi-tensor Adam): some ten kernel
launches a step instead of some ten per parameter, for temporaries the size of all the
parameters together, which a GPU has room for and a CPU run's memory budget has not.
Tested equal to the single-tensor update.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from gvetool.nn.execution import execution_for


class Adam:
    """Adam with L2 weight decay (coupled, as in ``torch.optim.Adam``) over one group."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # Per parameter: step count (a float32 scalar tensor, as torch keeps it), first and
        # second moment; created at a parameter's first update, as torch does.
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        updated = [(index, p) for index, p in enumerate(self.params) if p.grad is not None]
        if not updated:
            return
        states = [self._state(index, param) for index, param in updated]
        params = [param for _, param in updated]
        if execution_for(params[0].device).foreach_adam:
            self._foreach_step(params, states)
            return
        for param, state in zip(params, states, strict=True):
            self._single_step(param, state)

    def _state(self, index: int, param: torch.nn.Parameter) -> dict[str, torch.Tensor]:
        """A parameter's state, created at its first update as torch does: the step count
        (a float32 scalar tensor on the CPU, as torch keeps it) and both moments."""
        state = self.state.get(index)
        if state is None:
            state = self.state[index] = {
                "step": torch.tensor(0.0, dtype=torch.float32),
                "exp_avg": torch.zeros_like(param),
                "exp_avg_sq": torch.zeros_like(param),
            }
        return state

    def _single_step(self, param: torch.nn.Parameter, state: dict[str, torch.Tensor]) -> None:
        beta1, beta2 = self.betas
        grad = param.grad
        assert grad is not None
        state["step"] += 1
        if self.weight_decay:
            grad = grad.add(param, alpha=self.weight_decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].item()
        step_size = self.lr / (1 - beta1**step)
        denom = exp_avg_sq.sqrt().div_((1 - beta2**step) ** 0.5).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)

    def _foreach_step(
        self, params: list[torch.nn.Parameter], states: list[dict[str, torch.Tensor]]
    ) -> None:
        """:meth:`_single_step`'s operations, each over every parameter at once."""
        beta1, beta2 = self.betas
        grads = [param.grad for param in params]
        steps = [state["step"] for state in states]
        exp_avgs = [state["exp_avg"] for state in states]
        exp_avg_sqs = [state["exp_avg_sq"] for state in states]
        torch._foreach_add_(steps, 1)
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        counts = [step.item() for step in steps]  # host tensors: no device synchronisation
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, [(1 - beta2**count) ** 0.5 for count in counts])
        torch._foreach_add_(denoms, self.eps)
        step_sizes = [-(self.lr / (1 - beta1**count)) for count in counts]
        torch._foreach_addcdiv_(params, exp_avgs, denoms, step_sizes)

    @torch.no_grad()
    def device_step(self, skip: torch.Tensor) -> None:
        """The update with every number on the parameters' device, or no update where
        ``skip`` (a boolean tensor there) is true: no parameter, moment or step count moves.

        The host never waits for the device here (the step counts live on the device and
        the bias corrections are computed there), so a CUDA graph can capture the step; a
        captured training step skips, on the device, a step whose gradients are not all
        finite (:mod:`gvetool.engine.graphed_step`). The same update as
        :meth:`step` within float rounding (tested).
        """
        updated = [(index, p) for index, p in enumerate(self.params) if p.grad is not None]
        if not updated:
            return
        params = [param for _, param in updated]
        states = [self._state(index, param) for index, param in updated]
        for state, param in zip(states, params, strict=True):
            if state["step"].device != param.device:  # from a checkpoint or a host step
                state["step"] = state["step"].to(param.device)
        beta1, beta2 = self.betas
        keep = (~skip).to(params[0].dtype)
        grads = [param.grad for param in params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        grads = [torch.where(skip, 0.0, grad) for grad in grads]  # a skipped NaN moves nothing
        steps = [state["step"] for state in states]
        exp_avgs = [state["exp_avg"] for state in states]
        exp_avg_sqs = [state["exp_avg_sq"] for state in states]
        torch._foreach_add_(steps, keep)
        torch._foreach_lerp_(exp_avgs, grads, [(1 - beta1) * keep] * len(grads))
        torch._foreach_mul_(exp_avg_sqs, 1 - (1 - beta2) * keep)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        # in float64, as the host computes them: 1 - 0.999 ** step in float32 is off by 1e-5
        counts = torch._foreach_clamp_min([step.double() for step in steps], 1.0)
        corrections2 = _one_minus(torch._foreach_pow(beta2, counts))  # 1 - beta2 ** step
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, torch._foreach_sqrt(corrections2))
        torch._foreach_add_(denoms, self.eps)
        updates = torch._foreach_div(exp_avgs, denoms)
        step_sizes = _one_minus(torch._foreach_pow(beta1, counts))
        torch._foreach_reciprocal_(step_sizes)
        torch._foreach_mul_(step_sizes, -self.lr * keep)
        torch._foreach_mul_(updates, step_sizes)
        torch._foreach_add_(params, updates)

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: per-parameter state by index, and one parameter group."""
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": None,
            "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }
        return {
            "state": {i: dict(s) for i, s in self.state.items()},
            "param_groups": [group],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore moments and step counts (from this class or ``torch.optim.Adam``).

        The hyper-parameters stay as constructed: they come from the run's configuration.
        """
        groups = state_dict["param_groups"]
        indices = [i for group in groups for i in group["params"]]
        if len(indices) != len(self.params):
            raise ValueError(
                f"optimizer state is for {len(indices)} parameters, the model has "
                f"{len(self.params)}"
            )
        state: dict[int, dict[str, torch.Tensor]] = {}
        for position, (index, param) in enumerate(zip(indices, self.params, strict=True)):
            saved = state_dict["state"].get(index)
            if saved is None:
                continue
            if saved["exp_avg"].shape != param.shape:
                raise ValueError(
                    f"optimizer state of parameter {position} has shape "
                    f"{tuple(saved['exp_avg'].shape)}, the model's is {tuple(param.shape)}"
                )
            state[position] = {
                "step": saved["step"].detach().to(torch.float32).cpu().clone(),
                "exp_avg": saved["exp_avg"].to(param, copy=True),
                "exp_avg_sq": saved["exp_avg_sq"].to(param, copy=True),
            }
        self.state = state


def _one_minus(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """``1 - t`` for each tensor, in place."""
    torch._foreach_neg_(tensors)
    torch._foreach_add_(tensors, 1.0)
    return tensors
