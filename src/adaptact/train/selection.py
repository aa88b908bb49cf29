"""Model-selection policies: the number a run reports, chosen as each paper chose it."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["centred_moving_mean", "posthoc_checkpoint", "selected_metrics", "smoothing_window"]


def smoothing_window(total_steps: int) -> int:
    """The ABU authors' window in steps: ``min(2000, max(T / 10, 500))``."""
    return int(min(2000, max(total_steps / 10, 500)))


def centred_moving_mean(values: Sequence[float], width: int, passes: int = 3) -> np.ndarray:
    """A centred moving mean over ``width`` points, applied ``passes`` times; the window shrinks at the ends."""
    y = np.asarray(values, dtype=np.float64)
    if width <= 1 or len(y) == 0:
        return y
    half = width // 2
    for _ in range(passes):
        c = np.concatenate([[0.0], np.cumsum(y)])
        idx = np.arange(len(y))
        lo = np.clip(idx - half, 0, len(y))
        hi = np.clip(idx + half + 1, 0, len(y))
        y = (c[hi] - c[lo]) / (hi - lo)
    return y


def posthoc_checkpoint(
    val_steps: Sequence[int], val_accuracy: Sequence[float], checkpoint_steps: Sequence[int], total_steps: int
) -> int:
    """The ABU paper's post-hoc early stopping: the checkpoint where the smoothed validation curve is highest.

    The validation curve (accuracy at ``val_steps``) is smoothed with a centred moving
    mean of :func:`smoothing_window` steps, three times; each checkpoint takes the smoothed
    value at the nearest validation step. Returns the chosen checkpoint step.
    """
    if not checkpoint_steps:
        raise ValueError("post-hoc selection needs at least one checkpoint")
    if len(val_steps) == 0:
        return checkpoint_steps[-1]
    steps = np.asarray(val_steps)
    spacing = np.median(np.diff(steps)) if len(steps) > 1 else 1
    width = max(1, int(round(smoothing_window(total_steps) / max(spacing, 1))))
    smooth = centred_moving_mean(val_accuracy, width)
    scores = [smooth[int(np.argmin(np.abs(steps - c)))] for c in checkpoint_steps]
    return int(checkpoint_steps[int(np.argmax(scores))])


def selected_metrics(selection: str, curves: Mapping[str, Sequence], checkpoint_test: Mapping[int, float],
                     total_steps: int) -> dict[str, Any]:
    """A finished run's metrics from its curves: ``test_accuracy`` and ``selected_step`` by the policy
    (``final``: the last evaluation; ``best_test``: the evaluation with the highest test accuracy, the first
    of equals; ``posthoc``: :func:`posthoc_checkpoint` over ``checkpoint_test``, ``{step: test accuracy}``),
    and ``final_test_accuracy``, ``best_test_accuracy``, ``val_accuracy``, ``train_loss``, ``steps``
    (``train_accuracy`` when the curves have it)."""
    test = curves["test_accuracy"]
    metrics: dict[str, Any] = {
        "final_test_accuracy": test[-1],
        "best_test_accuracy": max(test),
        "val_accuracy": curves["val_accuracy"][-1],
        "train_loss": curves["train_loss"][-1],
        "steps": total_steps,
    }
    if selection == "final":
        metrics["test_accuracy"], metrics["selected_step"] = test[-1], curves["step"][-1]
    elif selection == "best_test":
        i = max(range(len(test)), key=test.__getitem__)
        metrics["test_accuracy"], metrics["selected_step"] = test[i], curves["step"][i]
    else:
        chosen = posthoc_checkpoint(curves["step"], curves["val_accuracy"], sorted(checkpoint_test), total_steps)
        metrics["test_accuracy"], metrics["selected_step"] = checkpoint_test[chosen], chosen
    if "train_accuracy" in curves:
        metrics["train_accuracy"] = curves["train_accuracy"][-1]
    return metrics
