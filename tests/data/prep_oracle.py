"""Oracle for proxyseg preprocessing (run by prep_oracle.c): trilinear and
nearest resampling vs scipy.ndimage.map_coordinates (mode='nearest') on
proxyseg's centred index mapping, and reorientation vs nibabel's
as_closest_canonical. Exit 0 when everything agrees, 1 otherwise."""
import json
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

d = sys.argv[1]
meta = json.load(open(f"{d}/meta.json"))
ok = True


def fail(msg):
    global ok
    ok = False
    print("FAIL", msg)


C, D, H, W = meta["in_shape"]
_, nD, nH, nW = meta["out_shape"]
step = meta["step"]
x = np.fromfile(f"{d}/in.f32", np.float32).reshape(C, D, H, W)
lab = np.fromfile(f"{d}/in.u8", np.uint8).reshape(D, H, W)
y1 = np.fromfile(f"{d}/out1.f32", np.float32).reshape(C, nD, nH, nW)
y0 = np.fromfile(f"{d}/out0.u8", np.uint8).reshape(nD, nH, nW)

# new index n -> old index n*step + ((N_old-1) - (N_new-1)*step)/2, per axis (D,H,W)
axes = []
for n_old, n_new, s in zip((D, H, W), (nD, nH, nW), step):
    off = ((n_old - 1) - (n_new - 1) * s) / 2
    axes.append(np.arange(n_new) * s + off)
coords = np.stack(np.meshgrid(*axes, indexing="ij"))

for c in range(C):
    ref = ndimage.map_coordinates(x[c].astype(np.float64), coords, order=1, mode="nearest")
    err = np.abs(ref - y1[c]).max()
    print(f"order 1 channel {c}: max |proxyseg - scipy| = {err:.3g}")
    if err > 1e-5:
        fail(f"trilinear differs from scipy.ndimage.map_coordinates by {err}")

ref0 = ndimage.map_coordinates(lab, coords, order=0, mode="nearest")
frac = np.abs(coords - np.floor(coords) - 0.5).min(axis=0)
sel = frac > 1e-6  # away from rounding ties, where conventions may differ
mism = int((ref0[sel] != y0[sel]).sum())
print(f"nearest labels: {mism} mismatches of {int(sel.sum())} (ties excluded: {int((~sel).sum())})")
if mism:
    fail("nearest-neighbour labels differ from scipy")

A = np.array(meta["in_affine"])
M = np.eye(4)
for a, (n_old, n_new, s) in enumerate(zip((D, H, W), (nD, nH, nW), step)):
    v = 2 - a  # voxel axis i, j, k for D, H, W
    M[v, v] = s
    M[v, 3] = ((n_old - 1) - (n_new - 1) * s) / 2
if not np.allclose(A @ M, np.array(meta["out_affine"]), atol=1e-9):
    fail("resampled affine is not in_affine @ index map")

# Reorientation: nibabel works on [i, j, k]; proxyseg stores [k, j, i].
rD, rH, rW = meta["r_shape"]
rin = np.fromfile(f"{d}/rin.f32", np.float32).reshape(rD, rH, rW).transpose(2, 1, 0)
img = nib.Nifti1Image(rin, np.array(meta["r_in_affine"]))
can = nib.as_closest_canonical(img)
oD, oH, oW = meta["r_out_shape"]
rout = np.fromfile(f"{d}/rout.f32", np.float32).reshape(oD, oH, oW).transpose(2, 1, 0)
if rout.shape != can.shape or not np.array_equal(rout, np.asarray(can.dataobj)):
    fail(f"reoriented data differs from nibabel as_closest_canonical ({rout.shape} vs {can.shape})")
if not np.allclose(can.affine, np.array(meta["r_out_affine"]), atol=1e-9):
    fail(f"reoriented affine differs from nibabel's:\n{can.affine}\nvs\n{np.array(meta['r_out_affine'])}")
print("reorientation vs nibabel:", "ok" if ok else "see above")
sys.exit(0 if ok else 1)
