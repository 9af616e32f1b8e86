#!/usr/bin/python3
"""PyTorch twin of benchmarks/bench_unet_step.c ("unet-ref"): same network, loss,
optimiser and flags; prints one JSON line with the same keys.
1 input channel, 2 classes; S stages of base*2^s features; each stage
2 x (Conv3d 3³ pad 1 → InstanceNorm3d(affine) → LeakyReLU 0.01); MaxPool3d 2;
ConvTranspose3d 2 stride 2, concat with the skip, the 2-conv block; 1³ head;
CE + soft Dice (foreground classes, per sample, smooth 1e-5); Adam."""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    layers = []
    for j in range(2):
        layers += [nn.Conv3d(cin if j == 0 else cout, cout, 3, padding=1), nn.InstanceNorm3d(cout, eps=1e-5, affine=True),
                   nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers)


class UNetRef(nn.Module):
    def __init__(self, stages, base):
        super().__init__()
        f = [base * 2 ** s for s in range(stages)]
        self.enc = nn.ModuleList([block(1 if s == 0 else f[s - 1], f[s]) for s in range(stages)])
        self.up = nn.ModuleList([nn.ConvTranspose3d(f[k + 1], f[k], 2, stride=2) for k in range(stages - 1)])
        self.dec = nn.ModuleList([block(2 * f[k], f[k]) for k in range(stages - 1)])
        self.head = nn.Conv3d(f[0], 2, 1)

    def forward(self, x):
        skips = []
        for s, e in enumerate(self.enc):
            if s > 0:
                x = F.max_pool3d(x, 2, 2)
            x = e(x)
            skips.append(x)
        for k in range(len(self.enc) - 2, -1, -1):
            x = self.dec[k](torch.cat([self.up[k](x), skips[k]], 1))
        return self.head(x)


def dice_ce(logits, lab, smooth=1e-5):
    ce = F.cross_entropy(logits, lab)
    p = torch.softmax(logits, 1)
    oh = F.one_hot(lab, logits.shape[1]).permute(0, 4, 1, 2, 3).to(p.dtype)
    inter = (p * oh).sum((2, 3, 4))
    den = p.sum((2, 3, 4)) + oh.sum((2, 3, 4))
    return ce + 1 - ((2 * inter + smooth) / (den + smooth))[:, 1:].mean()


def conv_macs(stages, base, patch):
    f = [base * 2 ** s for s in range(stages)]
    macs, size = 0, patch
    sizes = []
    for s in range(stages):
        size = patch // 2 ** s
        sizes.append(size ** 3)
        cin = 1 if s == 0 else f[s - 1]
        macs += sizes[s] * 27 * (cin * f[s] + f[s] * f[s])
    for k in range(stages - 1):
        macs += sizes[k + 1] * 8 * f[k + 1] * f[k]              # transposed conv
        macs += sizes[k] * 27 * (2 * f[k] * f[k] + f[k] * f[k])  # decoder block
    macs += sizes[0] * f[0] * 2                                  # head
    return macs


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(stages=4, base=16, patch=64, batch=2, threads=2, steps=5, warmup=2).items():
        ap.add_argument(f"--{k}", type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = UNetRef(a.stages, a.base)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(a.batch, 1, a.patch, a.patch, a.patch, generator=g)
    lab = (x[:, 0] > 0.5).long()
    total = cpu_total = 0.0
    min_step = float("inf")  # the fastest step: on a shared machine, the least disturbed one
    for s in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        loss = dice_ce(net(x), lab)
        loss.backward()
        opt.step()
        t1, c1 = time.perf_counter(), time.process_time()
        if s >= a.warmup:
            min_step = min(min_step, t1 - t0)
            total += t1 - t0
            cpu_total += c1 - c0
    ms = 1e3 * total / a.steps
    flops = 3 * 2 * conv_macs(a.stages, a.base, a.patch) * a.batch
    nv = a.batch * a.patch ** 3
    print(json.dumps({"bench": "unet_step", "impl": "torch", "torch_version": torch.__version__, "net": "unet-ref",
                      "stages": a.stages, "base": a.base, "patch": a.patch, "batch": a.batch, "threads": a.threads,
                      "steps": a.steps, "warmup": a.warmup, "params": sum(p.numel() for p in net.parameters()),
                      "ms_per_step": round(ms, 2), "min_ms_per_step": round(1e3 * min_step, 2), "voxels_per_s": round(nv / (ms / 1e3)),
                      "gflops_per_s": round(flops / (ms / 1e3) / 1e9, 2), "conv_gflop_per_step": round(flops / 1e9, 3),
                      "cpu_ms_per_step": round(1e3 * cpu_total / a.steps, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                      "loss": round(loss.item(), 5)}))


if __name__ == "__main__":
    main()
