"""PyTorch oracle for tests/engine/test_ops_torch.c (float64 on the python side).

usage: ops_torch.py MANIFEST   one case a line: DIR OP key=value...  Inputs are raw float32 files DIR/<name>.f32
(labels:
DIR/labels.u8), shapes come as key=d0,d1,...; writes DIR/y.f32 and the
gradient of sum(r * y) for every input as DIR/g<name>.f32 (r read from DIR/r.f32).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F



def run(d, op, kv):
    def ints(key):
        return [int(v) for v in kv[key].split(",")]

    def load(name, shape, grad=True):
        a = np.fromfile(os.path.join(d, name + ".f32"), dtype=np.float32).astype(np.float64)
        return torch.tensor(a.reshape(shape), requires_grad=grad)

    def save(name, t):
        t.detach().numpy().astype(np.float32).tofile(os.path.join(d, name + ".f32"))


    x = load("x", ints("x"))
    inputs = {"x": x}
    eps = float(kv.get("eps", "1e-5"))
    C = x.shape[1]

    def labels():
        n = x.shape[0] * int(np.prod(x.shape[2:]))
        lab = np.fromfile(os.path.join(d, "labels.u8"), dtype=np.uint8)[:n]
        return torch.tensor(lab.astype(np.int64).reshape((x.shape[0],) + tuple(x.shape[2:])))

    def cross_entropy(lab):
        ign = int(kv.get("ignore", "-1"))
        w = load("cw", [C], grad=False) if "cw" in kv else None
        return F.cross_entropy(x, lab, weight=w, ignore_index=ign if ign >= 0 else -100)

    def soft_dice(lab):
        """nnU-Net's SoftDiceLoss, written out: masked softmax vs one-hot."""
        ign = int(kv.get("ignore", "-1"))
        smooth = float(kv.get("smooth", "1e-5"))
        batch, bg = kv.get("batch", "0") == "1", kv.get("bg", "0") == "1"
        mask = (lab != ign).to(torch.float64).unsqueeze(1)
        safe = torch.where(lab == ign, torch.zeros_like(lab), lab)
        g = F.one_hot(safe, C).movedim(-1, 1).to(torch.float64) * mask
        p = torch.softmax(x, dim=1) * mask
        axes = [0] + list(range(2, x.dim())) if batch else list(range(2, x.dim()))
        tp, ps, gs = (p * g).sum(axes), p.sum(axes), g.sum(axes)
        dc = (2 * tp + smooth) / torch.clamp(ps + gs + smooth, min=1e-8)
        dc = dc if bg else dc[..., 1:]
        return 1 - dc.mean()


    if op == "linear":
        w = load("w", ints("w"))
        b = load("b", [ints("w")[0]])
        inputs.update(w=w, b=b)
        y = F.linear(x, w, b)
    elif op == "softmax":
        y = torch.softmax(x, dim=1)
    elif op == "instance_norm":
        g, b = load("gamma", [C]), load("beta", [C])
        inputs.update(gamma=g, beta=b)
        y = F.instance_norm(x, weight=g, bias=b, eps=eps)
    elif op == "batch_norm":
        g, b = load("gamma", [C]), load("beta", [C])
        rm, rv = load("rm", [C], grad=False), load("rv", [C], grad=False)
        inputs.update(gamma=g, beta=b)
        train = kv["train"] == "1"
        y = F.batch_norm(x, rm, rv, g, b, training=train, momentum=float(kv["momentum"]), eps=eps)
        save("rm_out", rm)
        save("rv_out", rv)
    elif op in ("max_pool", "avg_pool"):
        k, s, p = ints("k"), ints("s"), ints("p")
        if op == "max_pool":
            y = F.max_pool3d(x, k, s, p)
        else:
            y = F.avg_pool3d(x, k, s, p, count_include_pad=kv["cip"] == "1")
    elif op == "upsample":
        mode = kv["mode"]
        y = F.interpolate(x, size=ints("out"), mode=mode, align_corners=False if mode == "trilinear" else None)
    elif op == "ce":
        y = cross_entropy(labels()).reshape(1)
    elif op == "dice":
        y = soft_dice(labels()).reshape(1)
    elif op == "dice_ce":
        lab = labels()
        y = (float(kv["wce"]) * cross_entropy(lab) + float(kv["wdice"]) * soft_dice(lab)).reshape(1)
    else:
        raise ValueError("unknown op " + op)

    save("y", y)
    r = np.fromfile(os.path.join(d, "r.f32"), dtype=np.float32)[: y.numel()].astype(np.float64)
    y.backward(torch.tensor(r.reshape(y.shape)))
    for name, t in inputs.items():
        save("g" + name, t.grad)


if __name__ == "__main__":
    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split()
            if parts:
                run(parts[0], parts[1], dict(a.split("=", 1) for a in parts[2:]))
