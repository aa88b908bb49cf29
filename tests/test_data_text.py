"""rt-polarity's text pipeline: Kim's clean_str, the vocabulary, padding, and k-fold splits."""
from __future__ import annotations

import pytest
import torch
from test_data_files import write_rt

from adaptact import data
from adaptact.data.splits import kfold, seeded
from adaptact.data.text import build_vocab, encode_sentences


@pytest.mark.parametrize("text,tokens", [
    ("It's a film that doesn't (quite) work!", "it 's a film that does n't ( quite ) work !"),
    ("we've, they're, I'd, you'll", "we 've , they 're , i 'd , you 'll"),
    ("what?  really...   yes", "what ? really yes"),
    ("the `` best '' film -- ever ; 10/10", "the `` best '' film ever 10 10"),
    ("  SHOUTING \t and tabs\n", "shouting and tabs"),
    ("caf\ufffd au lait", "caf au lait"),
])
def test_clean_str(text, tokens):
    assert data.clean_str(text) == tokens


def test_clean_str_can_keep_case():
    assert data.clean_str("Don't PANIC", lower=False) == "Do n't PANIC"


def test_vocabulary_order_and_reserved_ids():
    vocab = build_vocab([["b", "a", "c"], ["a", "c"], ["a", "d"]])
    assert vocab == ["<pad>", "<unk>", "a", "c", "b", "d"]  # by count, ties alphabetical
    assert build_vocab([["b", "a", "a"]], min_freq=2) == ["<pad>", "<unk>", "a"]
    ids, cut = encode_sentences([["a", "zzz"], ["c", "b", "a", "d"]], vocab, length=3, pad=1)
    assert ids.tolist() == [[0, 2, 1, 0, 0], [0, 3, 4, 2, 0]] and cut == 1


def test_kfold_partitions_and_stratifies():
    labels = torch.tensor([0] * 30 + [1] * 20)
    tests = []
    for fold in range(5):
        train, test = kfold(labels, 5, fold, seeded(0, "folds"))
        assert set(train.tolist()).isdisjoint(test.tolist()) and len(train) + len(test) == 50
        assert labels[test].tolist().count(1) == 4  # every fold has the class proportions
        tests.append(test)
    assert sorted(torch.cat(tests).tolist()) == list(range(50))
    again = kfold(labels, 5, 2, seeded(0, "folds"))[1]
    assert torch.equal(again, tests[2]) and not torch.equal(kfold(labels, 5, 2, seeded(1, "folds"))[1], again)
    with pytest.raises(ValueError, match="fold must be"):
        kfold(labels, 5, 5, seeded(0, "folds"))


@pytest.fixture
def rt_dir(tmp_path):
    pos = [f"great movie {i} , loved it" for i in range(15)]
    neg = [f"dull movie {100 + i} , hated it" for i in range(15)]  # every number occurs once
    write_rt(tmp_path, pos, neg)
    return tmp_path


def test_rt_folds_partition_the_sentences(tmp_path):
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
    pos = [f"{words[i % 6]} {words[i // 6]} good" for i in range(15)]  # distinct sentences of common words
    neg = [f"{words[i % 6]} {words[i // 6]} bad" for i in range(15)]
    write_rt(tmp_path, pos, neg)
    seen = []
    for fold in range(3):
        d = data.load("rt-polarity", tmp_path, folds=3, fold=fold)
        assert (len(d.y_train), len(d.y_test)) == (20, 10)
        assert d.y_test.tolist().count(1) == 5
        assert (d.x_test == 1).sum() == 0  # every word also occurs in the training folds
        seen += [tuple(d.vocab[i] for i in row) for row in d.x_test.tolist()]
    assert len(set(seen)) == 30  # every sentence is a test sentence exactly once


def test_rt_vocabulary_comes_from_the_training_split(rt_dir):
    d = data.load("rt-polarity", rt_dir, folds=3, fold=0)
    train_words = {d.vocab[i] for i in d.x_train.flatten().tolist()} - {"<pad>"}
    assert set(d.vocab[2:]) == train_words and "<unk>" not in train_words
    assert (d.x_test == 1).sum() == 10  # each test sentence has one number never seen in training
    assert d.meta["vocab_from"] == "training split" and d.meta["unk_id"] == 1 and d.meta["pad_id"] == 0


def test_rt_padding_and_length(rt_dir):
    d = data.load("rt-polarity", rt_dir, folds=3, pad=2)
    assert d.x_train.shape[1] == 6 + 4 and d.input_shape == (10,)
    assert (d.x_train[:, :2] == 0).all() and (d.x_train[:, -2:] == 0).all()
    short = data.load("rt-polarity", rt_dir, folds=3, max_len=3)
    assert short.x_train.shape[1] == 3 and short.meta["sentences_cut"] == 30


def test_rt_validation_from_the_front_has_both_classes(rt_dir):
    d = data.load("rt-polarity", rt_dir, folds=3, val_size=6)
    assert set(d.y_val.tolist()) == {0, 1}  # interleaved classes: a front slice has both
