"""Adam and the one-cycle learning rate that every fit trains with (math only: no I/O).

They do what ``torch.optim.Adam(fused=True)`` and ``torch.optim.lr_scheduler.OneCycleLR`` do,
to the last bit, without ``torch.optim``: its first optimiser step in a process imports
``torch._dynamo`` (about 2 s on a 2-core machine, paid by every fresh ``tvae fit``), and its
bookkeeping costs about 0.1 ms a step. The update runs in torch's fused Adam kernel where the
device has one, otherwise in plain tensor operations (the same formulas, other rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch

BETA1 = 0.9  # Adam's defaults (Kingma & Ba, 2015), as the reference trains with them
BETA2 = 0.999
EPS = 1e-8


@dataclass(frozen=True)
class OneCycle:
    """The one-cycle policy (Smith & Topin, 2019), in two phases over ``total_steps`` steps.

    The learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the steps, then falls to ``max_lr / div_factor / final_div_factor``; Adam's
    beta1 moves the other way, between ``max_momentum`` and ``base_momentum``. Both follow half
    a cosine in each phase.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def at(self, step: int) -> tuple[float, float]:
        """The learning rate and beta1 of optimiser step ``step`` (0 for the first)."""
        initial_lr = self.max_lr / self.div_factor
        min_lr = initial_lr / self.final_div_factor
        peak = float(self.pct_start * self.total_steps) - 1
        if step <= peak:
            pct = (step - 0) / (peak - 0)
            return _cosine(initial_lr, self.max_lr, pct), _cosine(
                self.max_momentum, self.base_momentum, pct
            )
        pct = (step - peak) / ((self.total_steps - 1) - peak)
        return _cosine(self.max_lr, min_lr, pct), _cosine(
            self.base_momentum, self.max_momentum, pct
        )


def _cosine(start: float, end: float, pct: float) -> float:
    """From ``start`` (pct 0) to ``end`` (pct 1) along half a cosine."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class Adam:
    """Adam with weight decay on a fixed list of parameters: L2 (added to the gradient, as
    ``torch.optim.Adam``), or with ``decoupled`` the weights shrunk apart from the gradient
    (Loshchilov & Hutter's AdamW, as ``torch.optim.AdamW`` on a CPU, to the last bit).

    A parameter is updated on the steps where it has a gradient, and its moments start then.
    With ``schedule`` the learning rate and beta1 of each step are the schedule's, otherwise
    ``lr`` and :data:`BETA1`. :meth:`state_dict` has ``torch.optim.Adam``'s layout, so a
    checkpoint written by either loads in either.
    """

    def __init__(
        self,
        params: list[torch.nn.Parameter],
        lr: float,
        weight_decay: float = 0.0,
        schedule: OneCycle | None = None,
        decoupled: bool = False,
    ) -> None:
        if not params:
            raise ValueError("Adam needs at least one parameter")
        self.params = list(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.schedule = schedule
        self.decoupled = decoupled
        self.steps = 0  # optimiser steps taken: the schedule's position
        self.exp_avgs: list[torch.Tensor | None] = [None] * len(self.params)
        self.exp_avg_sqs: list[torch.Tensor | None] = [None] * len(self.params)
        self.step_counts: list[torch.Tensor | None] = [None] * len(self.params)  # float32

    def hyperparameters(self) -> tuple[float, float]:
        """The learning rate and beta1 of the next step."""
        return self.schedule.at(self.steps) if self.schedule is not None else (self.lr, BETA1)

    @torch.no_grad()
    def step(self) -> None:
        lr, beta1 = self.hyperparameters()
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        for i in chosen:
            if self.step_counts[i] is None:
                p = self.params[i]
                self.exp_avgs[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.exp_avg_sqs[i] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.step_counts[i] = torch.zeros((), dtype=torch.float32, device=p.device)
        for i in chosen:
            self.step_counts[i].add_(1)
        self.steps += 1
        if not chosen:
            return
        params = [self.params[i] for i in chosen]
        grads = [p.grad for p in params]
        exp_avgs = [self.exp_avgs[i] for i in chosen]
        exp_avg_sqs = [self.exp_avg_sqs[i] for i in chosen]
        counts = [self.step_counts[i] for i in chosen]
        if not self.decoupled and _has_fused_kernel(params[0].device.type, params[0].dtype):
            torch._fused_adam_(
                params, grads, exp_avgs, exp_avg_sqs, [], counts, amsgrad=False, lr=lr,
                beta1=beta1, beta2=BETA2, weight_decay=self.weight_decay, eps=EPS, maximize=False,
            )  # fmt: skip
            return
        decay = 0.0 if self.decoupled else self.weight_decay  # L2, added to the gradient
        for p, grad, exp_avg, exp_avg_sq, count in zip(
            params, grads, exp_avgs, exp_avg_sqs, counts, strict=True
        ):
            if self.decoupled:
                p.mul_(1 - lr * self.weight_decay)
            _plain_update(p, grad, exp_avg, exp_avg_sq, float(count), lr, beta1, decay)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (the next backward pass sets it afresh)."""
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        lr, beta1 = self.hyperparameters()
        state = {
            i: {
                "step": self.step_counts[i].clone(),
                "exp_avg": self.exp_avgs[i].clone(),
                "exp_avg_sq": self.exp_avg_sqs[i].clone(),
            }
            for i in range(len(self.params))
            if self.step_counts[i] is not None
        }
        group = {
            "lr": lr, "betas": (beta1, BETA2), "eps": EPS, "weight_decay": self.weight_decay,
            "amsgrad": False, "maximize": False, "fused": True, "steps": self.steps,
            "params": list(range(len(self.params))),
        }  # fmt: skip
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue from :meth:`state_dict` (or ``torch.optim.Adam``'s, one group)."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("the optimiser state is for other parameters")
        for key, saved in state_dict["state"].items():
            i, p = int(key), self.params[int(key)]
            self.step_counts[i] = torch.as_tensor(saved["step"], dtype=torch.float32).to(p.device)
            self.exp_avgs[i] = saved["exp_avg"].to(p.device, p.dtype)
            self.exp_avg_sqs[i] = saved["exp_avg_sq"].to(p.device, p.dtype)
        counts = [int(c) for c in self.step_counts if c is not None]
        self.steps = int(groups[0].get("steps", max(counts, default=0)))


def _plain_update(
    p: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
    step: float, lr: float, beta1: float, weight_decay: float,
) -> None:  # fmt: skip
    """One Adam update of ``p`` in place: L2 decay, the moments, the bias corrections."""
    if weight_decay:
        grad = grad.add(p, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - BETA2**step)
    denominator = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(EPS)
    p.addcdiv_(exp_avg, denominator, value=-lr / bias_correction1)


@cache
def _has_fused_kernel(device_type: str, dtype: torch.dtype) -> bool:
    """Whether this torch has a fused Adam kernel for the device (CPU: torch 2.4 and later)."""
    fused = getattr(torch, "_fused_adam_", None)
    if fused is None:
        return False
    one = torch.zeros(1, dtype=dtype, device=device_type)
    try:
        fused(
            [one.clone()], [one.clone()], [one.clone()], [one.clone()], [],
            [torch.ones((), dtype=torch.float32, device=device_type)], amsgrad=False, lr=0.0,
            beta1=BETA1, beta2=BETA2, weight_decay=0.0, eps=EPS, maximize=False,
        )  # fmt: skip
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return True
