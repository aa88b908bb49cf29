"""Pre-trained word vectors: the word2vec binary/text and GloVe readers, rt-polarity's static option,
the sentence CNN's frozen embedding, and farhadi-mr's static columns."""
from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptact import data
from adaptact.data import DataError
from adaptact.data.vectors import find_vectors, read_word_vectors
from adaptact.experiments import get_experiment, reproduce
from adaptact.models import SentenceCNN
from adaptact.train import RunSpec, run
from fakedata import write_fake_data_root, write_word2vec_binary

VECS = {"the": [1.0, 2.0, 3.0], "movie": [0.5, -1.25, 2.0], "café": [9.0, 8.0, -7.5], "Movie": [4.0, 4.0, 4.0],
        "the_dupe": [0.0, 0.0, 1.0]}
WORDS = ["<pad>", "movie", "the", "nowhere", "café", "the"]
HOW = "code.google.com/archive/p/word2vec"


def _text_lines(vectors, header: bool) -> str:
    lines = [f"{len(vectors)} {len(next(iter(vectors.values())))}"] if header else []
    lines += [w + " " + " ".join(repr(x) for x in v) for w, v in vectors.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def files(tmp_path):
    out = {
        "word2vec-binary": write_word2vec_binary(tmp_path / "v.bin", VECS),
        "binary-no-newlines": write_word2vec_binary(tmp_path / "tight.bin", VECS, newline=False),
        "word2vec-text": tmp_path / "v.txt",
        "glove": tmp_path / "glove.6B.3d.txt",
    }
    out["word2vec-text"].write_text(_text_lines(VECS, header=True), encoding="utf-8")
    out["glove"].write_text(_text_lines(VECS, header=False), encoding="utf-8")
    gz = tmp_path / "v.bin.gz"
    gz.write_bytes(gzip.compress(out["word2vec-binary"].read_bytes()))
    out["gzip"] = gz
    return out


def _check(wv):
    assert wv.vectors.shape == (len(WORDS), 3) and wv.vectors.dtype == torch.float32
    assert wv.found.tolist() == [False, True, True, False, True, True]
    torch.testing.assert_close(wv.vectors[1], torch.tensor(VECS["movie"]), rtol=0, atol=0)  # case-sensitive match
    torch.testing.assert_close(wv.vectors[2], torch.tensor(VECS["the"]), rtol=0, atol=0)
    torch.testing.assert_close(wv.vectors[4], torch.tensor(VECS["café"]), rtol=0, atol=0)  # UTF-8 word
    torch.testing.assert_close(wv.vectors[5], wv.vectors[2], rtol=0, atol=0)  # a repeated word: the same row
    assert (wv.vectors[[0, 3]] == 0).all()


@pytest.mark.parametrize("kind", ["word2vec-binary", "binary-no-newlines", "word2vec-text", "glove", "gzip"])
def test_each_format_read_explicitly_and_detected(files, kind):
    fmt = {"binary-no-newlines": "word2vec-binary", "gzip": "word2vec-binary"}.get(kind, kind)
    for asked in (fmt, "auto"):
        wv = read_word_vectors(files[kind], WORDS, format=asked)
        assert wv.format == fmt
        _check(wv)
    assert wv.summary() == {"file": str(files[kind]), "format": fmt, "dim": 3, "found": 4, "vocabulary": 6}


def test_the_binary_reader_streams_past_buffer_boundaries(tmp_path):
    """Many words and a long vector: records cross the reader's 1 MiB chunks; only the asked words are kept."""
    rng = np.random.default_rng(0)
    vectors = {f"w{i}": rng.standard_normal(300).astype(np.float32).tolist() for i in range(1200)}
    path = write_word2vec_binary(tmp_path / "big.bin", vectors)
    assert path.stat().st_size > 1 << 20
    wanted = ["w0", "w873", "w1199", "absent"]
    wv = read_word_vectors(path, wanted)
    assert wv.vectors.shape == (4, 300) and wv.found.tolist() == [True, True, True, False]
    for i, w in enumerate(wanted[:3]):
        torch.testing.assert_close(wv.vectors[i], torch.tensor(vectors[w]), rtol=0, atol=0)


# --------------------------------------------------------------------------- bad or missing files


def test_a_missing_file_names_it_and_how_to_get_the_vectors(tmp_path):
    with pytest.raises(DataError, match="word vectors: file not found") as err:
        read_word_vectors(tmp_path / "nope.bin", WORDS)
    assert str(tmp_path / "nope.bin") in str(err.value) and HOW in str(err.value)
    with pytest.raises(DataError) as err:
        find_vectors(None, [tmp_path / "rt-polarity"])
    msg = str(err.value)
    assert str(tmp_path / "word2vec" / "GoogleNews-vectors-negative300.bin") in msg and HOW in msg
    assert "vectors=PATH" in msg


def _bad(tmp_path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_bad_files_give_an_error_naming_the_file(tmp_path, files):
    header_less = _bad(tmp_path, "b.bin", b"hello world 1\n")
    with pytest.raises(DataError, match=r"b\.bin: not a word2vec file: its first line .* is not 'N D'"):
        read_word_vectors(header_less, WORDS, format="word2vec-binary")
    whole = files["word2vec-binary"].read_bytes()
    cut = _bad(tmp_path, "cut.bin", whole[: len(whole) - 5])
    with pytest.raises(DataError, match=r"cut\.bin: ends inside the vector of word 5 \('the_dupe'\) of 5"):
        read_word_vectors(cut, WORDS)
    short = _bad(tmp_path, "short.bin", b"9 3\n" + whole.split(b"\n", 1)[1])
    with pytest.raises(DataError, match=r"short\.bin: ends after 5 of the 9 words its header announces"):
        read_word_vectors(short, WORDS)
    ragged = _bad(tmp_path, "ragged.txt", b"the 1 2 3\nmovie 1 2\n")
    with pytest.raises(DataError, match=r"ragged\.txt line 2: 2 numbers where 3 are expected"):
        read_word_vectors(ragged, WORDS)
    words = _bad(tmp_path, "words.txt", b"the 1 2 3\nmovie 1 x 3\n")
    with pytest.raises(DataError, match=r"words\.txt line 2: not a number"):
        read_word_vectors(words, WORDS)
    unrelated = _bad(tmp_path, "other.txt", b"alpha 1 2\nbeta 3 4\n")
    with pytest.raises(DataError, match=r"other\.txt: none of the 6 vocabulary words has a vector") as err:
        read_word_vectors(unrelated, WORDS)
    assert HOW in str(err.value)
    empty = _bad(tmp_path, "empty.txt", b"")
    with pytest.raises(DataError, match=r"empty\.txt: holds no word vectors"):
        read_word_vectors(empty, WORDS)
    with pytest.raises(ValueError, match="vectors format must be one of"):
        read_word_vectors(files["glove"], WORDS, format="fasttext")


# --------------------------------------------------------------------------- rt-polarity's static option


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    return write_fake_data_root(tmp_path_factory.mktemp("fakedata"))


def test_rt_polarity_static_reads_the_vectors_of_its_vocabulary(fake_root):
    rand = data.load("rt-polarity", fake_root, folds=5)
    static = data.load("rt-polarity", fake_root, folds=5, embeddings="static")
    assert rand.meta["embeddings"] == "rand" and "word_vectors" not in rand.meta
    wv = static.meta["word_vectors"]
    assert static.meta["vocab_size"] == len(static.vocab) == wv.vectors.shape[0]
    assert static.vocab[: len(rand.vocab)] == rand.vocab  # the training vocabulary first, then other splits' words
    added = static.vocab[len(rand.vocab):]
    assert all(wv.found[len(rand.vocab):]) and static.meta["vectors"]["added_from_other_splits"] == len(added)
    source = read_word_vectors(fake_root / "word2vec" / "GoogleNews-vectors-negative300.bin", static.vocab)
    torch.testing.assert_close(wv.vectors, source.vectors, rtol=0, atol=0)
    assert wv.found[static.vocab.index("film")] and not wv.found[static.vocab.index("wonderful")]
    assert static.meta["vectors"]["dim"] == 8 and static.meta["vectors"]["format"] == "word2vec-binary"
    with pytest.raises(ValueError, match=r"embeddings must be one of \['rand', 'static'\]"):
        data.load("rt-polarity", fake_root, embeddings="frozen")


def test_rt_polarity_static_without_the_file_says_where_it_looked(tmp_path, fake_root):
    shutil.copytree(fake_root / "rt-polarity", tmp_path / "rt-polarity")
    with pytest.raises(DataError) as err:
        data.load("rt-polarity", tmp_path, embeddings="static")
    assert "GoogleNews-vectors-negative300.bin" in str(err.value) and HOW in str(err.value)
    glove = tmp_path / "elsewhere" / "glove.txt"
    glove.parent.mkdir()
    glove.write_text("film 1 2\nboring -1 0.5\n")
    d = data.load("rt-polarity", tmp_path, embeddings="static", vectors=str(glove))
    assert d.meta["vectors"]["format"] == "glove" and d.meta["vectors"]["dim"] == 2


# --------------------------------------------------------------------------- the sentence CNN's embedding


def test_sentence_cnn_starts_from_the_vectors_and_freezes_them():
    torch.manual_seed(0)
    vectors = torch.arange(20.0).reshape(5, 4)
    found = torch.tensor([True, False, True, True, False])
    net = SentenceCNN(5, embed_dim=None, vectors=vectors, vectors_found=found, maps=3, hidden=4)
    w = net.embedding.weight
    assert not w.requires_grad and net.static
    assert (w[0] == 0).all()  # padding
    torch.testing.assert_close(w[[2, 3]], vectors[[2, 3]], rtol=0, atol=0)
    assert (w[[1, 4]].abs() <= 0.25).all() and (w[[1, 4]] != 0).any()  # Kim's uniform start for the others
    tuned = SentenceCNN(5, embed_dim=4, vectors=vectors, vectors_found=found, maps=3, hidden=4, static=False)
    assert tuned.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="embed_dim=300 but the word vectors have 4 dimensions"):
        SentenceCNN(5, vectors=vectors, vectors_found=found)
    with pytest.raises(ValueError, match=r"vectors must be \(vocab_size=6, D\)"):
        SentenceCNN(6, embed_dim=None, vectors=vectors, vectors_found=found)
    with pytest.raises(ValueError, match="needs embed_dim"):
        SentenceCNN(5, embed_dim=None)


def test_a_static_run_trains_everything_but_the_embedding(fake_root):
    spec = RunSpec(model="sentence_cnn", data="rt-polarity", data_dir=str(fake_root), device="cpu", steps=3,
                   batch_size=8, optimizer="adam", lr=1e-2, record_every=0,
                   data_options={"folds": 5, "embeddings": "static"},
                   model_options={"embed_dim": None, "maps": 4, "hidden": 4})
    record = run(spec)
    assert record.status == "ok", record.error
    assert record.data["vocab_size"] > 0


# --------------------------------------------------------------------------- farhadi-mr's static columns


def _static_only(exp):
    quick = dataclasses.replace(exp.profiles["quick"], columns=("dense ReLU (static)",), rows=("conv ReLU",))
    return dataclasses.replace(exp, profiles={"quick": quick})


_TINY = {"device": "cpu", "steps": 1, "epochs": None, "batch_size": 8, "model_options": {"maps": 4, "hidden": 4}}


def test_farhadi_mr_static_columns_run_with_a_vectors_file_and_are_reported_missing_without(fake_root, tmp_path):
    exp = get_experiment("farhadi-mr")
    planned, _ = exp.plan("quick")
    static = [s for c, s in planned if c.column.endswith("(static)")]
    assert [s.tags["row"] for s in static] == ["conv ReLU"] * 3  # quick: one row of static cells
    assert all(s.data_options["embeddings"] == "static" and s.model_options["embed_dim"] is None for s in static)
    summary = reproduce(_static_only(exp), "quick", out=tmp_path / "with", progress=False,
                        overrides={**_TINY, "data_dir": str(fake_root)})
    assert summary.ran == 1 and summary.failed == 0 and not summary.unavailable
    bare = tmp_path / "bare"
    shutil.copytree(fake_root / "rt-polarity", bare / "rt-polarity")
    summary = reproduce(_static_only(exp), "quick", out=tmp_path / "without", progress=False,
                        overrides={**_TINY, "data_dir": str(bare)})
    assert summary.failed == 0
    (message,) = summary.unavailable.values()
    assert "GoogleNews-vectors-negative300.bin" in message and HOW in message
