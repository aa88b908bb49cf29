"""Pre-trained word vectors for a vocabulary: word2vec binary and text formats, GloVe text.

The file is streamed once and only the vectors of the requested words are kept, so a
3-million-word file (word2vec's GoogleNews vectors, 3.6 GB) costs the memory of the vocabulary
only. Formats:

- ``word2vec-binary`` (``.bin``, as word2vec writes with ``-binary 1``): a header line ``"N D\\n"``,
  then per word its UTF-8 bytes, a space, ``D`` float32 little-endian, and an optional ``"\\n"``.
- ``word2vec-text``: the header line ``"N D"``, then ``"word v1 ... vD"`` per line.
- ``glove``: no header; ``"word v1 ... vD"`` per line (``D`` from the first line).
- ``auto`` (default): ``glove`` unless the first line is ``"N D"``; then text if the next line
  parses as a word and ``D`` numbers, else binary.

Files ending in ``.gz`` are decompressed on the fly. Words match exactly (the sentence reader
lower-cases, as Kim (2014) did with the same vectors); the first occurrence of a word wins.
Every problem is a :class:`~adaptact.data.errors.DataError` naming the file.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np
import torch

from adaptact.data.errors import DataError, missing_files

__all__ = ["FORMATS", "HOW_TO_GET", "WordVectors", "find_vectors", "read_word_vectors"]

FORMATS = ("auto", "word2vec-binary", "word2vec-text", "glove")
HOW_TO_GET = (
    "get word2vec's GoogleNews-vectors-negative300.bin.gz (Mikolov et al., the vectors Kim (2014) used: "
    "https://code.google.com/archive/p/word2vec/) or a GloVe file (https://nlp.stanford.edu/projects/glove/), "
    "put it into DATA_DIR/word2vec, or give its path as the data option vectors=PATH"
)
#: the file the sentence experiments look for when no path is given (word2vec's release name)
DEFAULT_FILES = ("GoogleNews-vectors-negative300.bin", "GoogleNews-vectors-negative300.bin.gz")
_CHUNK = 1 << 20
_MAX_WORD_BYTES = 1 << 16


@dataclass(frozen=True)
class WordVectors:
    """The vectors of a vocabulary read from a file.

    Attributes:
        vectors: float32 ``(V, D)``, row ``i`` the vector of ``words[i]`` (zeros where not found).
        found: bool ``(V,)``, whether the file has a vector for the word.
        file: the file read; format: its format (never ``auto``).
    """

    vectors: torch.Tensor
    found: torch.Tensor
    file: str
    format: str

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def summary(self) -> dict:
        """What a record should say of them (JSON): file, format, dimension, words found of the vocabulary."""
        return {"file": self.file, "format": self.format, "dim": self.dim, "found": int(self.found.sum()),
                "vocabulary": len(self.found)}

    def __repr__(self) -> str:
        s = self.summary()
        return f"WordVectors({s['found']} of {s['vocabulary']} words, dim {s['dim']}, {s['format']} {s['file']!r})"


def find_vectors(path: str | Path | None, folders: Sequence[Path]) -> Path:
    """The vectors file: ``path`` as given (absolute, or relative to the working directory or to a data
    folder), or word2vec's default file names in ``DATA_DIR/word2vec`` and the data set's folders."""
    folders = [Path(f) for f in folders]
    places = []
    for f in folders:
        places += [f, f.parent / "word2vec"]
    if path is None:
        candidates = [p / name for p in places for name in DEFAULT_FILES]
    else:
        path = Path(path).expanduser()
        candidates = [path] if path.is_absolute() else [path] + [p / path for p in places]
    for c in candidates:
        if c.is_file():
            return c
    raise missing_files("word vectors", candidates, HOW_TO_GET)


def read_word_vectors(path: str | Path, words: Sequence[str], format: str = "auto") -> WordVectors:
    """Stream ``path`` and keep the vectors of ``words`` (see the module docstring for the formats)."""
    path = Path(path)
    if format not in FORMATS:
        raise ValueError(f"vectors format must be one of {list(FORMATS)}, got {format!r}")
    if not path.is_file():
        raise missing_files("word vectors", [path], HOW_TO_GET)
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    vectors = found = None
    try:
        with _open(path) as stream:
            if format == "auto":
                format = _detect(stream, path)
            records = _binary_records(stream, path) if format == "word2vec-binary" else _text_records(stream, path,
                                                                                                       format)
            for word, values in records:
                if vectors is None:  # the first record fixes the dimension
                    first = values()
                    vectors = torch.zeros(len(words), len(first))
                    found = torch.zeros(len(words), dtype=torch.bool)
                i = index.get(word)
                if i is None or found[i]:
                    continue
                vectors[i] = values()
                found[i] = True
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read the word vectors ({err}); {HOW_TO_GET}") from None
    if vectors is None:
        raise DataError(f"{path}: holds no word vectors; {HOW_TO_GET}")
    if not found.any():
        raise DataError(f"{path}: none of the {len(words)} vocabulary words has a vector there "
                        f"(read as {format}); is it a word-vector file? {HOW_TO_GET}")
    first_of = torch.tensor([index[w] for w in words], dtype=torch.int64)  # a repeated word: its first row
    return WordVectors(vectors[first_of], found[first_of], str(path), format)


# --------------------------------------------------------------------------- reading


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _detect(stream: BinaryIO, path: Path) -> str:
    """Peek at the start (then rewind) to tell GloVe, word2vec text and word2vec binary apart."""
    start = stream.read(4 * _MAX_WORD_BYTES)
    stream.seek(0)
    first, _, rest = start.partition(b"\n")
    head = _header(first)
    if head is None:
        return "glove"
    line = rest.split(b"\n", 1)[0]
    try:
        tokens = line.decode("utf-8").rstrip().split(" ")
        [float(t) for t in tokens[-head[1]:]]
        if len(tokens) >= head[1] + 1:
            return "word2vec-text"
    except (UnicodeDecodeError, ValueError):
        pass
    return "word2vec-binary"


def _binary_records(stream: BinaryIO, path: Path) -> Iterator[tuple[str, Callable[[], torch.Tensor]]]:
    first = stream.readline()
    head = _header(first)
    if head is None:
        raise DataError(f"{path}: not a word2vec file: its first line {first[:80]!r} is not 'N D' "
                        f"(word count, dimension); {HOW_TO_GET}")
    count, dim = head
    if dim < 1:
        raise DataError(f"{path}: the header says dimension {dim}; {HOW_TO_GET}")
    return _binary_body(stream, path, count, dim)


def _binary_body(stream: BinaryIO, path: Path, count: int, dim: int):
    size = 4 * dim
    buf = bytearray()
    pos = 0
    for k in range(count):
        while True:  # the word: up to a space, after an optional newline left by the previous record
            while pos < len(buf) and buf[pos] in (0x0A, 0x0D):
                pos += 1
            space = buf.find(b" ", pos)
            if space >= 0:
                break
            if len(buf) - pos > _MAX_WORD_BYTES:
                raise DataError(f"{path}: word {k + 1} of {count} has no end (no space within "
                                f"{_MAX_WORD_BYTES} bytes); is it a word2vec binary file? {HOW_TO_GET}")
            more = stream.read(_CHUNK)
            if not more:
                raise DataError(f"{path}: ends after {k} of the {count} words its header announces; {HOW_TO_GET}")
            buf, pos = buf[pos:] + more, 0
        word = bytes(buf[pos:space]).decode("utf-8", errors="replace")
        start = space + 1
        while len(buf) - start < size:
            more = stream.read(_CHUNK)
            if not more:
                raise DataError(f"{path}: ends inside the vector of word {k + 1} ({word!r}) of {count}: "
                                f"{len(buf) - start} of its {size} bytes ({dim} float32); {HOW_TO_GET}")
            buf, start = buf[start:] + more, 0
        raw = bytes(buf[start:start + size])
        pos = start + size
        yield word, (lambda raw=raw: torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float32)))


def _text_records(stream: BinaryIO, path: Path, format: str) -> Iterator[tuple[str, Callable[[], torch.Tensor]]]:
    text = (line.decode("utf-8", errors="replace") for line in stream)
    lineno = 0
    dim = None
    if format == "word2vec-text":
        first = next(text, "")
        lineno = 1
        head = _header(first.encode())
        if head is None:
            raise DataError(f"{path}: not a word2vec text file: its first line {first[:80]!r} is not 'N D' "
                            f"(word count, dimension); {HOW_TO_GET}")
        dim = head[1]
    return _text_body(text, path, lineno, dim)


def _text_body(text, path: Path, lineno: int, dim: int | None):
    for line in text:
        lineno += 1
        tokens = line.rstrip("\r\n").rstrip(" ").split(" ")
        if tokens == [""]:
            continue
        if dim is None:
            dim = len(tokens) - 1
            if dim < 1:
                raise DataError(f"{path} line {lineno}: a word and no numbers; {HOW_TO_GET}")
        if len(tokens) < dim + 1:
            raise DataError(f"{path} line {lineno}: {len(tokens) - 1} numbers where {dim} are expected; "
                            f"{HOW_TO_GET}")
        word = " ".join(tokens[: len(tokens) - dim])
        numbers = tokens[len(tokens) - dim:]

        def values(numbers=numbers, lineno=lineno):
            try:
                return torch.tensor([float(t) for t in numbers], dtype=torch.float32)
            except ValueError:
                raise DataError(f"{path} line {lineno}: not a number among the {dim} values; {HOW_TO_GET}") from None

        yield word, values
