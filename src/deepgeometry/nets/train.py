"""Plain training and evaluation loops shared by the plates (small models, CPU, one thread)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import DeepGeometryError


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    diverged: bool = False
    final_test_acc: float = float("nan")
    final_train_acc: float = float("nan")

    def to_dict(self) -> dict:
        return {"train_loss": self.train_loss, "test_acc": self.test_acc, "diverged": self.diverged,
                "final_test_acc": self.final_test_acc, "final_train_acc": self.final_train_acc}


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Classification accuracy of ``model`` on ``(x, y)`` in eval mode."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
    model.train(was)
    return correct / max(1, len(x))


def train_classifier(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                     x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None, *,
                     epochs: int = 5, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                     optimizer: str = "adam", weight_decay: float = 0.0, momentum: float = 0.9,
                     loss_fn: Callable | None = None,
                     progress: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train with cross-entropy; stops and flags ``diverged`` on a non-finite loss.

    ``progress(epoch, loss)`` is called after each epoch (for progress bars).
    """
    if len(x_train) != len(y_train):
        raise DeepGeometryError(f"x_train has {len(x_train)} samples but y_train has {len(y_train)}")
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise DeepGeometryError(f"bad training settings: epochs={epochs}, batch_size={batch_size}, lr={lr}")
    g = torch.Generator().manual_seed(int(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        raise DeepGeometryError(f"unknown optimizer {optimizer!r}; use 'adam' or 'sgd'")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    res = TrainResult()
    model.train()
    n = len(x_train)
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        total, count = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            if not torch.isfinite(loss):
                res.diverged = True
                break
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        if res.diverged:
            res.train_loss.append(float("nan"))
            break
        res.train_loss.append(total / max(1, count))
        if x_test is not None and y_test is not None:
            res.test_acc.append(accuracy(model, x_test, y_test))
        if progress is not None:
            progress(ep, res.train_loss[-1])
    if x_test is not None and y_test is not None:
        res.final_test_acc = accuracy(model, x_test, y_test) if not res.diverged else float("nan")
    res.final_train_acc = accuracy(model, x_train, y_train) if not res.diverged else float("nan")
    if res.diverged:
        res.final_test_acc = math.nan
    return res
