"""The movie-review sentence CNN's training step (farhadi-mr's medium setting) with its forward as it is (one
contiguous copy of the transposed embedding) against the forward on the transposed view (each convolution
copying it in forward and backward), and with adaptact's one-pass Adadelta against torch's, in the same
process; and the share of the Adadelta step in it.

    PYTHONPATH=src python benchmarks/sentence_cnn.py [--rounds 11] [--threads 1] [--out out/sentence-cnn.json]

Kim's layout at the paper's width: vocabulary 16,984 (rt-polarity's), 300-d trainable embedding, windows
3/4/5 x 100 maps, dense 100, batch 50 sentences of 56 tokens, Adadelta (rho 0.95) with max-norm 3 as
farhadi-mr trains it. Each figure: the median over alternated rounds of the thread CPU time (readable on a
loaded machine; at one thread, as the campaign runs, it is all of the step's CPU time) with the
interquartile range of the per-round ratio. Both forwards give the same bits (tests/test_models.py); the two
Adadelta steps agree to float32 rounding (tests/test_fused_adadelta.py).
"""
from __future__ import annotations

import platform
import statistics
import sys
import types

import torch
import torch.nn.functional as F

from adaptact.models.sentence_cnn import SentenceCNN
from adaptact.train.fused_adadelta import Adadelta
from adaptact.train.optim import apply_max_norm
from cpu_timing import alternate, options, quartiles, write_result

VOCAB, TOKENS, BATCH = 16984, 56, 50


def _on_the_view(self, tokens):
    e = self.embedding(tokens).transpose(1, 2)
    pooled = [a(conv(e)).amax(dim=2) for conv, a in zip(self.convs, self.conv_acts)]
    return self.classifier(self.dropout(torch.cat(pooled, dim=1)))


def _net(view: bool, act: str):
    torch.manual_seed(0)
    net = SentenceCNN(VOCAB, act_conv=act, act_fc=act, embed_dim=300, maps=100, hidden=100, dropout=0.5)
    if view:
        net.forward = types.MethodType(_on_the_view, net)
    return net


def main(argv: list[str] | None = None) -> int:
    parser = options(__doc__.splitlines()[0], rounds=11)
    parser.add_argument("--act", default="agumbel", help="the activation of every layer (default agumbel)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tokens = torch.randint(1, VOCAB, (BATCH, TOKENS))
    target = torch.randint(0, 2, (BATCH,))
    calls, optimizers = {}, {}
    for name, view, optimizer in (("contiguous", False, torch.optim.Adadelta), ("view", True, torch.optim.Adadelta),
                                  ("fused Adadelta", False, Adadelta)):
        net = _net(view, args.act)
        opt = optimizer(net.parameters(), lr=1.0, rho=0.95, eps=1e-6)

        def step(net=net, opt=opt):
            opt.zero_grad()
            F.cross_entropy(net(tokens), target).backward()
            opt.step()
            apply_max_norm(net, 3.0)
        calls[name] = step
        optimizers[name] = opt
    calls["torch's Adadelta only"] = optimizers["contiguous"].step
    calls["fused Adadelta only"] = optimizers["fused Adadelta"].step
    times = alternate(calls, args.rounds)

    def ratio(a, b):
        return quartiles([x / y for x, y in zip(times[a], times[b])])

    result = {"threads": args.threads, "rounds": args.rounds, "act": args.act, "torch": torch.__version__,
              "machine": platform.platform(), "processor": platform.processor(),
              "ms": {n: statistics.median(v) * 1e3 for n, v in times.items()},
              "view_over_contiguous": ratio("view", "contiguous"),
              "adadelta_share": ratio("torch's Adadelta only", "contiguous"),
              "torch_over_fused_adadelta": ratio("torch's Adadelta only", "fused Adadelta only"),
              "step_torch_over_fused_adadelta": ratio("contiguous", "fused Adadelta")}
    ms = result["ms"]
    for label, key, a, b in (("on the view / contiguous", "view_over_contiguous", "view", "contiguous"),
                             ("torch's Adadelta step / a step", "adadelta_share", "torch's Adadelta only",
                              "contiguous"),
                             ("torch's Adadelta / fused", "torch_over_fused_adadelta", "torch's Adadelta only",
                              "fused Adadelta only"),
                             ("step with torch's / with fused Adadelta", "step_torch_over_fused_adadelta",
                              "contiguous", "fused Adadelta")):
        q = result[key]
        print(f"{label:<42} {ms[a]:>7.1f} / {ms[b]:>6.1f} ms = {q[1]:.3f} [{q[0]:.3f}, {q[2]:.3f}]")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
