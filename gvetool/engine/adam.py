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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


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
        beta1, beta2 = self.betas
        for index, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state.get(index)
            if state is None:
                state = self.state[index] = {
                    "step": torch.tensor(0.0, dtype=torch.float32),
                    "exp_avg": torch.zeros_like(param),
                    "exp_avg_sq": torch.zeros_like(param),
                }
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
