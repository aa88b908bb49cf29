"""Sentence data: Kim (2014)'s ``clean_str`` tokenisation, vocabularies, padding, and the rt-polarity reader.

rt-polarity (Pang & Lee, "sentence polarity dataset v1.0",
https://www.cs.cornell.edu/people/pabo/movie-review-data/): ``rt-polarity.pos`` and
``rt-polarity.neg``, 5,331 sentences each, one per line. Files are read as UTF-8 with
``errors="replace"`` (the original release has some Latin-1 bytes; ``clean_str`` drops
the replacement characters anyway). There is no released test split: the loader deals
the sentences into seeded, stratified k folds (Kim used 10) and fold ``fold`` is the test
split. The vocabulary is built from the final training split only (0 = padding,
1 = unknown word), so no test word gets its own id.

Static word vectors (Kim's CNN-static): with ``embeddings="static"`` the reader also reads
pre-trained vectors (word2vec binary or text, GloVe; :mod:`adaptact.data.vectors`) for the
vocabulary, streaming the file. The vocabulary is then the training split's words followed by
the words of the other splits that have a pre-trained vector (an external resource, as in Kim's
code, so a test word with a vector is not lost to the unknown id; no label is used); the data
set's ``meta["word_vectors"]`` holds them (:class:`~adaptact.data.vectors.WordVectors`, one row
per id) and ``meta["vectors"]`` a JSON summary (file, format, dimension, words found).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

from adaptact.data.errors import missing_files
from adaptact.data.paths import find_file
from adaptact.data.record import RawData
from adaptact.data.splits import interleave_classes, kfold, seeded, take
from adaptact.data.vectors import FORMATS, find_vectors, read_word_vectors

__all__ = ["EMBEDDINGS", "PAD", "UNK", "build_vocab", "clean_str", "encode_sentences", "read_rt_polarity"]

#: where the sentence model's embedding comes from: its own random trainable table, or pre-trained vectors
EMBEDDINGS = ("rand", "static")

PAD, UNK = "<pad>", "<unk>"
CLITICS = ("'s", "'ve", "n't", "'re", "'d", "'ll")
PUNCTUATION = (",", "!", "(", ")", "?")
_RULES = (
    [(re.compile(r"[^A-Za-z0-9(),!?'`]"), " ")]
    + [(re.compile(clitic), " " + clitic) for clitic in CLITICS]
    + [(re.compile(re.escape(mark)), f" {mark} ") for mark in PUNCTUATION]
    + [(re.compile(r"\s{2,}"), " ")]
)


def clean_str(text: str, lower: bool = True) -> str:
    """Kim (2014)'s ``clean_str``: keep letters, digits and ``(),!?'` ``, split off clitics and punctuation.

    Every other character becomes a space; ``'s 've n't 're 'd 'll`` are split from the
    word before; ``, ! ( ) ?`` become tokens of their own; runs of spaces collapse; the
    result is stripped and lower-cased. (Kim's code writes ``\\(``, ``\\)`` and ``\\?``
    for the last three by a quirk of its replacement strings; here they are plain.)

    >>> clean_str("It's a film that doesn't (quite) work!")
    "it 's a film that does n't ( quite ) work !"
    """
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = text.strip()
    return text.lower() if lower else text


def build_vocab(sentences: Sequence[Sequence[str]], min_freq: int = 1) -> list[str]:
    """``[PAD, UNK, words...]``: words seen at least ``min_freq`` times, most frequent first, ties alphabetical."""
    if not isinstance(min_freq, int) or min_freq < 1:
        raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
    counts = Counter(word for sentence in sentences for word in sentence)
    words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    return [PAD, UNK] + words


def encode_sentences(sentences: Sequence[Sequence[str]], vocab: Sequence[str], length: int, pad: int = 0):
    """Token ids int64 ``(N, length + 2*pad)``: ``pad`` zeros, the sentence's ids (cut at ``length``), zeros.

    Unknown words get id 1. Returns ``(ids, number of sentences cut)``.
    """
    index = {w: i for i, w in enumerate(vocab)}
    ids = torch.zeros(len(sentences), length + 2 * pad, dtype=torch.int64)
    cut = 0
    for row, sentence in enumerate(sentences):
        cut += len(sentence) > length
        tokens = [index.get(w, 1) for w in sentence[:length]]
        ids[row, pad:pad + len(tokens)] = torch.tensor(tokens, dtype=torch.int64)
    return ids, cut


def _text_encoder(max_len: int | None, pad: int, min_freq: int, vectors_file: Path | None = None,
                  vectors_format: str = "auto"):
    if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"max_len must be None or an int >= 1, got {max_len!r}")
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an int >= 0, got {pad!r}")

    def encode(train: list[list[str]], others: list[list[list[str]]]):
        vocab = build_vocab(train, min_freq)
        vectors_meta: dict = {}
        if vectors_file is not None:
            vocab, vectors_meta = _with_vectors(vocab, others, vectors_file, vectors_format)
        every = [s for part in [train] + others for s in part]
        length = max_len or max((len(s) for s in every), default=1)
        (train_ids, cut), *rest = [encode_sentences(part, vocab, length, pad) for part in [train] + others]
        meta = {"vocab_size": len(vocab), "max_len": length, "pad": pad, "min_freq": min_freq,
                "sentences_cut": cut + sum(c for _, c in rest), "pad_id": 0, "unk_id": 1,
                "vocab_from": "training split", "embeddings": "rand", **vectors_meta}
        return train_ids, [ids for ids, _ in rest], meta, vocab

    return encode


def _with_vectors(vocab: list[str], others: list[list[list[str]]], path: Path, format: str):
    """The vocabulary extended by the other splits' words that have a vector, and the meta of the vectors."""
    known = set(vocab)
    candidates = sorted({w for part in others for s in part for w in s} - known)
    wv = read_word_vectors(path, vocab + candidates, format)
    keep = torch.cat([torch.ones(len(vocab), dtype=torch.bool), wv.found[len(vocab):]])
    extended = vocab + [w for w, k in zip(candidates, keep[len(vocab):].tolist()) if k]
    wv = type(wv)(wv.vectors[keep], wv.found[keep], wv.file, wv.format)
    summary = {**wv.summary(), "found_in_training_vocabulary": int(wv.found[:len(vocab)].sum()),
               "added_from_other_splits": len(extended) - len(vocab)}
    return extended, {"embeddings": "static", "word_vectors": wv, "vectors": summary,
                      "vocab_from": "training split, then the other splits' words that have a pre-trained vector"}


def _read_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_rt_polarity(folders: Sequence[Path], *, folds: int = 10, fold: int = 0, split_seed: int = 0,
                     max_len: int | None = None, pad: int = 0, min_freq: int = 1, embeddings: str = "rand",
                     vectors: str | Path | None = None, vectors_format: str = "auto") -> RawData:
    """Read ``rt-polarity.pos`` / ``.neg``, tokenise with :func:`clean_str`, and take fold ``fold`` as the test split.

    Args:
        folders: where to look, in order.
        folds, fold: stratified k-fold cross-validation (see :func:`adaptact.data.splits.kfold`);
            ``folds=5, fold=0`` is an 80/20 split.
        split_seed: seeds the fold assignment (fixed across runs by default).
        max_len: padded sentence length; ``None``: the longest sentence (56 tokens for rt-polarity).
        pad: extra zeros on both sides (Kim pads by filter width - 1).
        min_freq: words seen fewer times in the training split map to the unknown id.
        embeddings: ``"rand"`` (the model trains its own random embedding, Kim's CNN-rand) or
            ``"static"`` (pre-trained vectors, frozen by the model: Kim's CNN-static; see the module doc).
        vectors: the vectors file for ``"static"`` (absolute, or relative to the working directory or
            a data folder); ``None``: word2vec's ``GoogleNews-vectors-negative300.bin[.gz]`` in
            ``DATA_DIR/word2vec`` or the data set's folder. Read only with ``embeddings="static"``.
        vectors_format: ``auto``, ``word2vec-binary``, ``word2vec-text`` or ``glove``.

    Labels: 0 negative, 1 positive. Order before folding: negative and positive interleaved.
    """
    if embeddings not in EMBEDDINGS:
        raise ValueError(f"embeddings must be one of {list(EMBEDDINGS)}, got {embeddings!r}")
    if vectors_format not in FORMATS:
        raise ValueError(f"vectors_format must be one of {list(FORMATS)}, got {vectors_format!r}")
    sentences, labels, files = [], [], []
    for label, name in enumerate(("rt-polarity.neg", "rt-polarity.pos")):
        path = find_file(folders, [name])
        if path is None:
            raise missing_files(f"rt-polarity {name}", [f / name for f in folders])
        lines = _read_lines(path)
        sentences += [clean_str(line).split() for line in lines]
        labels += [label] * len(lines)
        files.append(str(path))
    vectors_file = find_vectors(vectors, folders) if embeddings == "static" else None
    encode = _text_encoder(max_len, pad, min_freq, vectors_file, vectors_format)
    y = torch.tensor(labels, dtype=torch.int64)
    order = interleave_classes(y)
    sentences, y = take(sentences, order), y[order]
    train, test = kfold(y, folds, fold, seeded(split_seed, "folds"))
    return RawData(take(sentences, train), y[train], take(sentences, test), y[test], ["negative", "positive"],
                   kind="text", files=files, scale=None, encode=encode,
                   meta={"folds": folds, "fold": fold, "split_seed": split_seed, "sentences": len(y),
                         "tokenizer": "Kim (2014) clean_str, lower-case"})
