#!/usr/bin/python3
"""Oracle for test_unet_torch: rebuild proxyseg's U-Net in PyTorch from the
resolved architecture stored in a proxyseg checkpoint (h5py), load the same
weights, run the same input and labels, and compare logits, the Dice+CE loss
(deep-supervision weighted) and every parameter gradient. Exit 1 on mismatch.

usage: unet_torch_check.py DIR N D H W   (DIR holds net.h5 grads.h5 x.f32 labels.u8 logits.f32 loss.f32)
"""
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)   # the oracle runs in double


class Block(nn.Module):
    """n convs cin→cout (first with stride), norm, activation; optional residual shortcut."""

    def __init__(self, a, n, cin, cout, k, first_stride):
        super().__init__()
        self.a, self.n = a, n
        pad = [kk // 2 for kk in k]
        for j in range(n):
            ci = cin if j == 0 else cout
            st = first_stride if j == 0 else [1, 1, 1]
            setattr(self, f"conv{j}", nn.Conv3d(ci, cout, k, stride=st, padding=pad, bias=a["conv_bias"]))
            if a["norm"] == "instance":
                setattr(self, f"norm{j}", nn.InstanceNorm3d(cout, eps=a["norm_eps"], affine=True))
            elif a["norm"] == "batch":
                setattr(self, f"norm{j}", nn.BatchNorm3d(cout, eps=a["norm_eps"], momentum=a["bn_momentum"]))
        self.skip = None
        if a["residual"] and (cin != cout or any(s != 1 for s in first_stride)):
            self.skip = nn.Conv3d(cin, cout, 1, stride=first_stride, bias=False)

    def forward(self, x):
        a, inp = self.a, x
        for j in range(self.n):
            x = getattr(self, f"conv{j}")(x)
            if a["norm"] != "none":
                x = getattr(self, f"norm{j}")(x)
            if a["residual"] and j == self.n - 1:
                x = x + (self.skip(inp) if self.skip is not None else inp)
            x = F.leaky_relu(x, a["leaky_slope"]) if a["activation"] == "leaky_relu" else F.relu(x)
        return x


class UNet(nn.Module):
    def __init__(self, a, cin, ncls):
        super().__init__()
        self.a = a
        S, f = a["stages"], a["features"]
        strided = a["downsample"] == "strided_conv"
        for s in range(S):
            fs = a["strides"][s] if strided else [1, 1, 1]
            setattr(self, f"enc{s}", Block(a, a["convs_per_stage_encoder"][s], cin if s == 0 else f[s - 1], f[s],
                                           a["kernel_sizes"][s], fs))
        self.ups = {}
        for k in range(S - 2, -1, -1):
            dec = Block(a, a["convs_per_stage_decoder"][k], 2 * f[k], f[k], a["kernel_sizes"][k], [1, 1, 1])
            if a["upsample"] == "transposed_conv":
                dec.up = nn.ConvTranspose3d(f[k + 1], f[k], a["strides"][k + 1], stride=a["strides"][k + 1])
            else:
                dec.up = nn.Conv3d(f[k + 1], f[k], 1)
            setattr(self, f"dec{k}", dec)
        self.n_heads = S - 1 if a["deep_supervision"] and S > 1 else 1
        for h in range(self.n_heads):
            setattr(self, f"head{h}", nn.Conv3d(f[h], ncls, 1))

    def forward(self, x):
        a, S = self.a, self.a["stages"]
        skips = []
        for s in range(S):
            if s > 0 and a["downsample"] == "maxpool":
                x = F.max_pool3d(x, a["strides"][s], a["strides"][s])
            x = getattr(self, f"enc{s}")(x)
            skips.append(x)
        dec_out = {S - 1: x}
        for k in range(S - 2, -1, -1):
            dec = getattr(self, f"dec{k}")
            if a["upsample"] == "transposed_conv":
                up = dec.up(x)
            else:
                up = dec.up(F.interpolate(x, size=skips[k].shape[2:], mode="trilinear", align_corners=False))
            x = dec(torch.cat([up, skips[k]], 1))
            dec_out[k] = x
        return [getattr(self, f"head{h}")(dec_out[h]) for h in range(self.n_heads)]


def dice_ce(logits, lab, smooth=1e-5):
    """proxyseg's default loss: mean CE + (1 - mean soft Dice over samples and foreground classes)."""
    ce = F.cross_entropy(logits, lab)
    p = torch.softmax(logits, 1)
    oh = F.one_hot(lab, logits.shape[1]).permute(0, 4, 1, 2, 3).to(p.dtype)
    dims = (2, 3, 4)
    inter = (p * oh).sum(dims)
    den = p.sum(dims) + oh.sum(dims)
    dc = (2 * inter + smooth) / (den + smooth)
    return ce + (1 - dc[:, 1:].mean())


def main():
    d = sys.argv[1]
    N, D, H, W = map(int, sys.argv[2:6])
    f = h5py.File(f"{d}/net.h5", "r")
    g = h5py.File(f"{d}/grads.h5", "r")
    a = json.loads(f["arch"][()].decode())
    cin, ncls = int(f.attrs["in_channels"]), int(f.attrs["n_classes"])
    net = UNet(a, cin, ncls)
    sd = net.state_dict()
    names = [k for k in sd if not k.endswith("num_batches_tracked")]
    for k in names:
        grp = "buffers" if "running_" in k else "params"
        src = f[grp][k][()]
        assert src.shape == tuple(sd[k].shape), f"{k}: {src.shape} vs {tuple(sd[k].shape)}"
        sd[k] = torch.from_numpy(src.astype(np.float64))
    missing = set(f["params"].keys()) - set(names)
    assert not missing, f"parameters in the checkpoint that the PyTorch model lacks: {missing}"
    net.load_state_dict(sd)
    net.train()
    x = torch.from_numpy(np.fromfile(f"{d}/x.f32", dtype=np.float32).astype(np.float64).reshape(N, cin, D, H, W))
    lab = torch.from_numpy(np.fromfile(f"{d}/labels.u8", dtype=np.uint8).astype(np.int64).reshape(N, D, H, W))
    outs = net(x)
    n = len(outs)
    w = np.array([1 / 2 ** i for i in range(n)])
    if n > 1:
        w[-1] = 0
    w = w / w.sum()
    loss = 0
    for i, o in enumerate(outs):
        if w[i] == 0:
            continue
        li = lab if i == 0 else F.interpolate(lab[:, None].double(), size=o.shape[2:], mode="nearest")[:, 0].long()
        loss = loss + w[i] * dice_ce(o, li)
    loss.backward()
    ok = True

    def rel(a_, b_):
        return float(np.abs(a_ - b_).max() / max(np.abs(b_).max(), 1e-6))

    logits = np.fromfile(f"{d}/logits.f32", dtype=np.float32).reshape(outs[0].shape)
    e = rel(logits, outs[0].detach().numpy())
    print(f"  logits rel err {e:.2e}")
    ok &= e < 1e-3
    ploss = float(np.fromfile(f"{d}/loss.f32", dtype=np.float32)[0])
    e = abs(ploss - loss.item()) / max(abs(loss.item()), 1e-6)
    print(f"  loss proxyseg {ploss:.6f} torch {loss.item():.6f} rel err {e:.2e}")
    ok &= e < 1e-3
    worst, wname = 0.0, ""
    grads = {k: (prm.grad.numpy() if prm.grad is not None else np.zeros(tuple(prm.shape))) for k, prm in net.named_parameters()}
    # tensors whose exact gradient is 0 (a conv bias in front of a norm; a head with
    # deep-supervision weight 0) are judged against the network's gradient scale
    gscale = max(np.abs(v).max() for v in grads.values())
    for k, tg in grads.items():
        pg = g["params"][k][()]
        e = float(np.abs(pg - tg).max() / max(np.abs(tg).max(), 1e-3 * gscale))
        if e > worst:
            worst, wname = e, k
        if e >= 1e-3:
            print(f"  grad {k}: rel err {e:.2e}")
    print(f"  worst parameter gradient rel err {worst:.2e} ({wname}); {sum(1 for _ in net.parameters())} tensors")
    ok &= worst < 1e-3
    print("  arch", json.dumps({k: a[k] for k in ("stages", "norm", "downsample", "upsample", "residual", "deep_supervision")}),
          "OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
