"""Kim's (2014) sentence CNN, as used by Farhadi et al. on movie-review polarity."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from adaptact.models.layers import ActSpec, activation, linear_act

__all__ = ["SentenceCNN"]


class SentenceCNN(nn.Module):
    """``embedding -> parallel conv1d windows (3, 4, 5) x maps -> act_conv -> max over time -> concat
    -> dropout -> linear hidden -> act_fc -> linear classes``.

    The embedding is trainable and starts uniform in (-0.25, 0.25) (Kim's "CNN-rand");
    index 0 is padding. One activation unit per window's convolution.
    """

    def __init__(
        self,
        vocab_size: int,
        act_conv: ActSpec = "relu",
        act_fc: ActSpec | None = None,
        num_classes: int = 2,
        embed_dim: int = 300,
        windows: Sequence[int] = (3, 4, 5),
        maps: int = 100,
        hidden: int = 100,
        dropout: float = 0.5,
        act_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        act_fc = act_conv if act_fc is None else act_fc
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        with torch.no_grad():
            self.embedding.weight.uniform_(-0.25, 0.25)
            self.embedding.weight[0].zero_()
        self.windows = tuple(windows)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w, padding=w - 1) for w in windows)
        self.conv_acts = nn.ModuleList(activation(act_conv, maps, act_options) for _ in windows)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(
            *linear_act(maps * len(windows), hidden, act_fc, act_options), nn.Linear(hidden, num_classes)
        )

    def forward(self, tokens: Tensor) -> Tensor:
        e = self.embedding(tokens).transpose(1, 2)  # (N, embed, L)
        pooled = [a(conv(e)).amax(dim=2) for conv, a in zip(self.convs, self.conv_acts)]
        return self.classifier(self.dropout(torch.cat(pooled, dim=1)))
