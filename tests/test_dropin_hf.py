"""Drop-in inside HuggingFace transformers and x-transformers models built offline from tiny configs."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import adaptact as aa
from adaptact.units import ActivationUnit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

VOCAB, HIDDEN, INTER, LAYERS = 40, 16, 24, 2
UNITS = ["pau", "abu", "adact", "agumbel", "arelu", "metaneuron"]
PER_CHANNEL = {"agumbel", "arelu", "metaneuron"}


def bert():
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                  num_attention_heads=2, intermediate_size=INTER, max_position_embeddings=32)
    return transformers.BertForMaskedLM(cfg)


def gpt2():
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=2, n_inner=INTER,
                                  n_positions=32, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg)


def llama():
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER,
                                   num_hidden_layers=LAYERS, num_attention_heads=2, num_key_value_heads=2,
                                   max_position_embeddings=32, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return transformers.LlamaForCausalLM(cfg)


MODELS = {"bert": bert, "gpt2": gpt2, "llama": llama}


def lm_loss(model, ids):
    logits = model(input_ids=ids).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1))


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("arch", list(MODELS))
def test_every_mlp_activation_is_replaced_and_trains(arch, unit):
    torch.manual_seed(0)
    model = MODELS[arch]()
    aa.replace_activations(model, unit)
    units = [(n, m) for n, m in model.named_modules() if isinstance(m, ActivationUnit)]
    mlp = [(n, m) for n, m in units if "intermediate" in n or ".mlp." in n]
    assert len(mlp) == LAYERS, [n for n, _ in units]
    head = [n for n, _ in units if (n, _) not in mlp]
    assert head == (["cls.predictions.transform.transform_act_fn"] if arch == "bert" else [])
    for length in (5, 9):  # two sequence lengths: a per-channel unit must not have taken T as its channels
        model(input_ids=torch.randint(0, VOCAB, (2, length)))
    for _, m in mlp:
        if unit in PER_CHANNEL:
            assert m.num_features == INTER and m.channel_dim == -1
        else:
            assert m.num_features is None
    opt = torch.optim.Adam(aa.param_groups(model), lr=1e-2)
    before = [p.detach().clone() for p in aa.activation_parameters(model)]
    ids = torch.randint(0, VOCAB, (4, 7))
    for _ in range(3):
        opt.zero_grad()
        loss = lm_loss(model, ids)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    moved = [not torch.equal(b, p) for b, p in zip(before, aa.activation_parameters(model))]
    assert any(moved)


def test_bert_pooler_tanh_is_kept_unless_asked():
    model = transformers.BertModel(bert().config)
    with pytest.warns(UserWarning, match="pooler.activation"):
        aa.replace_activations(model, "pau")
    assert isinstance(model.pooler.activation, torch.nn.Tanh)
    again = transformers.BertModel(bert().config)
    aa.replace_activations(again, "pau", include_gates=True)
    assert isinstance(again.pooler.activation, ActivationUnit)


def test_gpt2_units_start_as_its_tanh_gelu():
    torch.manual_seed(0)
    model = gpt2().eval()
    ids = torch.randint(0, VOCAB, (2, 6))
    with torch.no_grad():
        before = model(input_ids=ids).logits
    aa.replace_activations(model, "pau")
    assert "fitted to gelu_tanh" in aa.replacement_report(model)
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert (after - before).abs().max() < 0.05


def test_save_pretrained_and_from_pretrained_keep_the_units(tmp_path):
    torch.manual_seed(0)
    model = gpt2()
    aa.replace_activations(model, "agumbel")
    ids = torch.randint(0, VOCAB, (2, 6))
    model(input_ids=ids)
    with torch.no_grad():
        for p in aa.activation_parameters(model):
            p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    loaded = aa.from_pretrained(transformers.GPT2LMHeadModel, tmp_path).eval()
    assert sum(isinstance(m, ActivationUnit) for m in loaded.modules()) == LAYERS
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected)


def test_from_pretrained_without_a_record_is_refused(tmp_path):
    gpt2().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has no adaptact_replacements"):
        aa.from_pretrained(transformers.GPT2LMHeadModel, tmp_path)


@pytest.mark.parametrize("glu", [False, True])
def test_x_transformers_decoder(glu):
    xt = pytest.importorskip("x_transformers")
    torch.manual_seed(0)
    model = xt.TransformerWrapper(num_tokens=VOCAB, max_seq_len=32,
                                  attn_layers=xt.Decoder(dim=HIDDEN, depth=LAYERS, heads=2, ff_glu=glu))
    aa.replace_activations(model, "agumbel")
    units = [m for m in model.modules() if isinstance(m, ActivationUnit)]
    assert len(units) == LAYERS
    for length in (5, 8):
        logits = model(torch.randint(0, VOCAB, (2, length)))
        assert logits.shape == (2, length, VOCAB)
    assert all(u.num_features == HIDDEN * 4 and u.channel_dim == -1 for u in units)
    loss = logits.logsumexp(-1).mean()
    loss.backward()
    assert all(u.rho.grad is not None and torch.isfinite(u.rho.grad).all() for u in units)
