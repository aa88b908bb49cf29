"""Accuracy and loss of a model on tensors, in eval mode and batches."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["evaluate", "loss_and_correct", "top_k_accuracy"]


def loss_and_correct(logits: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """Mean loss and the number of correct predictions (``bce``: one logit, label 1 when it is > 0)."""
    if loss == "bce":
        logit = logits.reshape(-1)
        value = F.binary_cross_entropy_with_logits(logit, y.float())
        correct = ((logit > 0).long() == y).sum()
    else:
        value = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum()
    return value, correct


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, loss: str) -> tuple[float, float]:
    """(accuracy, mean loss) of ``model`` on ``x, y``; the model is put back in its previous mode."""
    was_training = model.training
    model.eval()
    total_loss, total_correct = 0.0, 0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            value, correct = loss_and_correct(model(xb), yb, loss)
            total_loss += value.item() * len(xb)
            total_correct += int(correct)
    finally:
        model.train(was_training)
    return total_correct / len(x), total_loss / len(x)


@torch.no_grad()
def top_k_accuracy(model: nn.Module, x: Tensor, y: Tensor, k: int, batch_size: int) -> float:
    """The share of examples whose label is among the model's ``k`` highest logits (eval mode, batches)."""
    was_training = model.training
    model.eval()
    hits = 0
    try:
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])
            top = logits.topk(min(k, logits.shape[1]), dim=1).indices
            hits += int((top == y[start : start + batch_size, None]).any(1).sum())
    finally:
        model.train(was_training)
    return hits / len(x)
