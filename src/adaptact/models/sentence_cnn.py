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

    With ``vectors`` (float ``(vocab_size, D)``, pre-trained word vectors, one row per token id) and
    ``vectors_found`` (bool ``(vocab_size,)``, which rows hold a vector), the embedding starts as
    those vectors; the other rows (unknown words, words without a vector) start uniform in
    (-0.25, 0.25) as Kim's code does, and padding is 0. ``static=True`` (default) freezes the whole
    table (Kim's "CNN-static"); ``static=False`` fine-tunes it ("CNN-non-static"). With vectors the
    embedding width is theirs: ``embed_dim`` must be ``None`` or ``D``.
    """

    def __init__(
        self,
        vocab_size: int,
        act_conv: ActSpec = "relu",
        act_fc: ActSpec | None = None,
        num_classes: int = 2,
        embed_dim: int | None = 300,
        windows: Sequence[int] = (3, 4, 5),
        maps: int = 100,
        hidden: int = 100,
        dropout: float = 0.5,
        act_options: dict[str, Any] | None = None,
        vectors: Tensor | None = None,
        vectors_found: Tensor | None = None,
        static: bool = True,
    ) -> None:
        super().__init__()
        act_fc = act_conv if act_fc is None else act_fc
        embed_dim = _embedding_width(vocab_size, embed_dim, vectors, vectors_found)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        with torch.no_grad():
            self.embedding.weight.uniform_(-0.25, 0.25)
            if vectors is not None:
                found = vectors_found.to(torch.bool)
                self.embedding.weight[found] = vectors[found].to(self.embedding.weight.dtype)
            self.embedding.weight[0].zero_()
        self.static = vectors is not None and bool(static)
        if self.static:
            self.embedding.weight.requires_grad_(False)
        self.windows = tuple(windows)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w, padding=w - 1) for w in windows)
        self.conv_acts = nn.ModuleList(activation(act_conv, maps, act_options) for _ in windows)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(
            *linear_act(maps * len(windows), hidden, act_fc, act_options), nn.Linear(hidden, num_classes)
        )

    def forward(self, tokens: Tensor) -> Tensor:
        # (N, embed, L), made contiguous once: each convolution would otherwise copy the transposed view in
        # forward and again in backward (six copies a step; the same values, 15 % of the step's time)
        e = self.embedding(tokens).transpose(1, 2).contiguous()
        pooled = [a(conv(e)).amax(dim=2) for conv, a in zip(self.convs, self.conv_acts)]
        return self.classifier(self.dropout(torch.cat(pooled, dim=1)))


def _embedding_width(vocab_size: int, embed_dim: int | None, vectors: Tensor | None,
                     found: Tensor | None) -> int:
    """The embedding width: ``embed_dim``, or the pre-trained vectors' (refusing a mismatch or a wrong shape)."""
    if vectors is None:
        if found is not None:
            raise ValueError("vectors_found was given without vectors")
        if embed_dim is None:
            raise ValueError("SentenceCNN needs embed_dim (the random embedding's width) when no vectors are given")
        return embed_dim
    if vectors.dim() != 2 or vectors.shape[0] != vocab_size:
        raise ValueError(f"vectors must be (vocab_size={vocab_size}, D), got shape {tuple(vectors.shape)}")
    if found is None or tuple(found.shape) != (vocab_size,):
        raise ValueError(f"vectors_found must be a bool tensor of shape ({vocab_size},) saying which rows hold a "
                         f"vector, got {None if found is None else tuple(found.shape)}")
    if embed_dim is not None and embed_dim != vectors.shape[1]:
        raise ValueError(f"embed_dim={embed_dim} but the word vectors have {vectors.shape[1]} dimensions; "
                         "set embed_dim=None (or to their width) with pre-trained vectors")
    return vectors.shape[1]
