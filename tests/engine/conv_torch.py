"""PyTorch oracle for test_conv_torch.c: for each case in DIR/cases.txt reads
x, w, b and the upstream gradient gy (raw float32), computes F.conv3d or
F.conv_transpose3d and its gradients in float64, writes y, gx, gw, gb."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(d, name, shape):
    a = np.fromfile(os.path.join(d, name), dtype=np.float32)
    return torch.from_numpy(a.reshape(shape).astype(np.float64)).requires_grad_(True)


def save(d, name, t):
    t.detach().numpy().astype(np.float32).tofile(os.path.join(d, name))


def main(d):
    with open(os.path.join(d, "cases.txt")) as f:
        for line in f:
            v = [int(s) for s in line.split()]
            if not v:
                continue
            i, n, cin, cout, D, H, W = v[:7]
            k, s, p, dil, op = v[7:10], v[10:13], v[13:16], v[16:19], v[19:22]
            groups, bias, transposed = v[22:25]
            x = load(d, f"c{i}_x.bin", (n, cin, D, H, W))
            wshape = (cin, cout // groups, *k) if transposed else (cout, cin // groups, *k)
            w = load(d, f"c{i}_w.bin", wshape)
            b = load(d, f"c{i}_b.bin", (cout,)) if bias else None
            if transposed:
                y = F.conv_transpose3d(x, w, b, stride=s, padding=p, output_padding=op, groups=groups, dilation=dil)
            else:
                y = F.conv3d(x, w, b, stride=s, padding=p, dilation=dil, groups=groups)
            gy = np.fromfile(os.path.join(d, f"c{i}_gy.bin"), dtype=np.float32)
            if gy.size != y.numel():
                print(f"conv_torch.py: case {i}: torch output {tuple(y.shape)} has {y.numel()} values, "
                      f"the C test sent {gy.size} upstream gradients", file=sys.stderr)
                return 1
            y.backward(torch.from_numpy(gy.reshape(y.shape).astype(np.float64)))
            save(d, f"c{i}_y.bin", y)
            with open(os.path.join(d, f"c{i}_yshape.txt"), "w") as g:
                g.write(" ".join(str(s) for s in y.shape) + "\n")
            save(d, f"c{i}_gx.bin", x.grad)
            save(d, f"c{i}_gw.bin", w.grad)
            if bias:
                save(d, f"c{i}_gb.bin", b.grad)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
