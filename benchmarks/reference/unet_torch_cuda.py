#!/usr/bin/env python3
"""PyTorch (cuDNN) twin of the CUDA benchmarks, on the GPU.
--mode step:  a whole unet-ref training step (the network, loss and Adam of
              unet_torch.py, imported from beside this file), eager, cudnn.benchmark
              on, timed with CUDA synchronisation; peak device memory.
--mode convs: the convolutions of one step layer by layer (forward, grad input,
              grad weight), the same list and FLOP count as bench_cuda_ops.
Prints JSON lines with the card name and the TF32 settings (PyTorch's defaults:
TF32 on for cuDNN convs, off for matmul) next to every figure."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import UNetRef, conv_macs, dice_ce  # noqa: E402


def card():
    return {"device": torch.cuda.get_device_name(0), "torch_version": torch.__version__,
            "cudnn_version": torch.backends.cudnn.version(), "tf32_conv": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - t0) / reps


def step_mode(a):
    dev = torch.device("cuda")
    torch.manual_seed(1)
    net = UNetRef(a.stages, a.base).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(a.batch, 1, a.patch, a.patch, a.patch, generator=g).to(dev)
    lab = (x[:, 0] > 0.5).long()
    torch.cuda.reset_peak_memory_stats()
    times = []
    loss = None
    for s in range(a.warmup + a.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = dice_ce(net(x), lab)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    ms = 1e3 * sum(times) / len(times)
    flops = 3 * 2 * conv_macs(a.stages, a.base, a.patch) * a.batch
    out = {"bench": "unet_step", "impl": "torch-cuda", "net": "unet-ref", "stages": a.stages, "base": a.base,
           "patch": a.patch, "batch": a.batch, "steps": a.steps, "warmup": a.warmup,
           "params": sum(p.numel() for p in net.parameters()), "ms_per_step": round(ms, 3),
           "ms_per_step_median": round(1e3 * times[len(times) // 2], 3),
           "voxels_per_s": round(a.batch * a.patch ** 3 / (ms / 1e3)),
           "gflops_per_s": round(flops / (ms / 1e3) / 1e9, 1), "conv_gflop_per_step": round(flops / 1e9, 2),
           "peak_device_mb": round(torch.cuda.max_memory_allocated() / 2 ** 20, 1),
           "peak_device_reserved_mb": round(torch.cuda.max_memory_reserved() / 2 ** 20, 1),
           "loss": round(loss.item(), 5)}
    out.update(card())
    print(json.dumps(out), flush=True)


def convs_mode(a):
    dev = torch.device("cuda")
    f = [a.base * 2 ** s for s in range(a.stages)]
    layers = []  # (kind, cin, cout, in size, k, stride, transposed, need_dx)
    for s in range(a.stages):
        sz = a.patch >> s
        layers.append(("enc_conv1", 1 if s == 0 else f[s - 1], f[s], sz, 3, 1, False, s > 0))
        layers.append(("enc_conv2", f[s], f[s], sz, 3, 1, False, True))
    for k in range(a.stages - 2, -1, -1):
        sz = a.patch >> k
        layers.append(("up_convT", f[k + 1], f[k], sz // 2, 2, 2, True, True))
        layers.append(("dec_conv1", 2 * f[k], f[k], sz, 3, 1, False, True))
        layers.append(("dec_conv2", f[k], f[k], sz, 3, 1, False, True))
    layers.append(("head", f[0], 2, a.patch, 1, 1, False, True))
    tot_ms = tot_flop = 0.0
    for kind, cin, cout, sz, k, st, tr, need_dx in layers:
        x = torch.full((a.batch, cin, sz, sz, sz), 0.01, device=dev, requires_grad=need_dx)
        w = torch.full((cin, cout, k, k, k) if tr else (cout, cin, k, k, k), 0.01, device=dev, requires_grad=True)
        pad = 1 if k == 3 else 0

        def fwd():
            return F.conv_transpose3d(x, w, stride=st) if tr else F.conv3d(x, w, stride=st, padding=pad)
        with torch.no_grad():
            f_ms = timed(fwd, a.reps)
        y = fwd()
        gy = torch.full_like(y, 0.01)
        ins = (x, w) if need_dx else (w,)
        b_ms = timed(lambda: torch.autograd.grad(y, ins, gy, retain_graph=True), a.reps)
        osz = sz * 2 if tr else sz
        macs = a.batch * (sz ** 3 if tr else osz ** 3) * cin * cout * k ** 3
        flop = 2 * macs * (3 if need_dx else 2)
        ms = f_ms + b_ms
        tot_ms += ms
        tot_flop += flop
        print(json.dumps({"bench": "torch_conv_layer", "layer": kind, "cin": cin, "cout": cout, "size": sz, "k": k,
                          "fwd_ms": round(f_ms, 3), "bwd_ms": round(b_ms, 3),
                          "gflops_per_s": round(flop / (ms * 1e6), 1)}), flush=True)
        del x, w, y, gy
    out = {"bench": "torch_convs", "impl": "torch-cuda", "stages": a.stages, "base": a.base, "patch": a.patch,
           "batch": a.batch, "reps": a.reps, "conv_ms_per_step": round(tot_ms, 2),
           "conv_gflop_per_step": round(tot_flop / 1e9, 2), "conv_gflops_per_s": round(tot_flop / (tot_ms * 1e6), 1)}
    out.update(card())
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["step", "convs"], default="step")
    for k, v in dict(stages=4, base=32, patch=128, batch=2, steps=5, warmup=2, reps=5).items():
        ap.add_argument(f"--{k}", type=int, default=v)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"bench": "torch_cuda", "skipped": "torch.cuda.is_available() is False"}))
        sys.exit(77)
    torch.backends.cudnn.benchmark = True
    if os.environ.get("PS_CUDA_TF32") == "0":  # the same switch as the C side's
        torch.backends.cudnn.allow_tf32 = False
    step_mode(a) if a.mode == "step" else convs_mode(a)


if __name__ == "__main__":
    main()
