"""Oracle for proxyseg's NIfTI reader/writer against nibabel.

Reads (a) Debian's mricron-data templates, (b) nibabel's own test data
(big-endian, 4D, NIfTI-2) and (c) files nibabel writes here (every datatype,
both byte orders, scl_slope/inter, NIfTI-2, qform-only, oblique/permuted axes)
with proxyseg (ps_nifti_dump) and compares header values (shape, zooms, affine,
datatype, scl, orientation) and voxels (get_fdata). Then proxyseg re-writes
each file and nibabel reads it back: same shape, affine and values.
Exit 77 (skip) when nibabel or every data source is missing.
usage: nifti_oracle.py PS_NIFTI_DUMP WORKDIR
"""
import glob
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import nibabel as nib
except ImportError as e:
    print(f"SKIPPED: nibabel/numpy not importable: {e}", file=sys.stderr)
    sys.exit(77)

DUMP, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
MRICRON = ["/usr/share/mricron/templates", "/usr/share/data/mricron/templates"]
NIBDATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
NAMES = {"uint8": "uint8", "int8": "int8", "int16": "int16", "uint16": "uint16", "int32": "int32",
         "uint32": "uint32", "float32": "float32", "float64": "float64", "int64": "int64", "uint64": "uint64"}
CODES = {"uint8": 2, "int8": 256, "int16": 4, "uint16": 512, "int32": 8, "uint32": 768, "float32": 16, "float64": 64}
failures = []
covered = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg, file=sys.stderr)


def candidates():
    """(path, why) for files from the Debian packages, one per distinct (dtype, endianness, axcodes, version, ndim)."""
    out, seen = [], set()
    dirs = [d for d in MRICRON if os.path.isdir(d)]
    if not dirs:
        print("NOTE: mricron-data not installed: templates not covered", file=sys.stderr)
    files = []
    for d in dirs:
        files += sorted(glob.glob(os.path.join(d, "*.nii.gz")))
    if os.path.isdir(NIBDATA):
        files += sorted(glob.glob(os.path.join(NIBDATA, "*.nii")) + glob.glob(os.path.join(NIBDATA, "*.nii.gz")))
    for f in files:
        try:
            im = nib.load(f)
        except Exception:
            continue
        if not isinstance(im, (nib.Nifti1Image, nib.Nifti2Image)) or type(im).__name__.startswith("Cifti"):
            continue
        h = im.header
        if len(im.shape) not in (3, 4) or np.prod(im.shape) > 30e6:
            continue
        key = (str(h.get_data_dtype().newbyteorder("=")), h.endianness, nib.aff2axcodes(im.affine),
               type(im).__name__, len(im.shape), int(h["qform_code"]) > 0, int(h["sform_code"]) > 0)
        if key in seen:
            continue
        seen.add(key)
        out.append((f, "package"))
    return out


def generated():
    """Files nibabel writes: every datatype, both byte orders, scaling, NIfTI-2, qform-only, odd axes."""
    out = []
    rng = np.random.default_rng(7)
    shape = (7, 6, 5)
    th = 0.3
    odd = np.array([[0, -1.2 * np.cos(th), 2 * np.sin(th), 5], [0, 1.2 * np.sin(th), 2 * np.cos(th), -7],
                    [0.7, 0, 0, 11], [0, 0, 0, 1]])
    lps = np.diag([-0.8, -0.9, 2.5, 1.0])
    lps[:3, 3] = [10, 20, -30]
    for dt in ["uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64"]:
        info = np.iinfo(dt) if dt[0] in "ui" else None
        if info:
            data = rng.integers(max(info.min, -30000), min(info.max, 60000), size=shape).astype(dt)
        else:
            data = (rng.standard_normal(shape) * 100).astype(dt)
        for endian in "<>":
            for ext in (".nii", ".nii.gz"):
                img = nib.Nifti1Image(data, lps if endian == ">" else odd)
                img.header.set_data_dtype(np.dtype(dt).newbyteorder(endian))
                hdr = img.header.as_byteswapped(endian) if endian != img.header.endianness else img.header
                img = nib.Nifti1Image(data, img.affine, hdr)
                p = os.path.join(WORK, f"gen_{dt}_{'be' if endian == '>' else 'le'}{ext}")
                nib.save(img, p)
                out.append((p, "generated"))
    # scaled: int16 with slope/inter, both orders
    for endian in "<>":
        img = nib.Nifti1Image(rng.integers(-1000, 1000, size=shape).astype(np.int16), odd)
        hdr = img.header.as_byteswapped(endian) if endian != img.header.endianness else img.header
        img = nib.Nifti1Image(np.asanyarray(img.dataobj), odd, hdr)
        img.header.set_slope_inter(0.25, -7.5)
        p = os.path.join(WORK, f"gen_scaled_{'be' if endian == '>' else 'le'}.nii.gz")
        nib.save(img, p)
        out.append((p, "generated"))
    # float data written as scaled int16 by nibabel itself
    fimg = nib.Nifti1Image((rng.standard_normal((9, 8, 7, 3)) * 50).astype(np.float64), lps)
    fimg.set_data_dtype(np.int16)
    p = os.path.join(WORK, "gen_autoscaled_4d.nii.gz")
    nib.save(fimg, p)
    out.append((p, "generated"))
    # NIfTI-2, 4D
    p = os.path.join(WORK, "gen_nifti2_4d.nii.gz")
    nib.save(nib.Nifti2Image(rng.standard_normal((5, 4, 3, 2)).astype(np.float32), odd), p)
    out.append((p, "generated"))
    # qform only (sform code 0), and neither
    img = nib.Nifti1Image(rng.standard_normal(shape).astype(np.float32), None)
    img.set_qform(odd, code=1)
    img.set_sform(None, code=0)
    p = os.path.join(WORK, "gen_qform_only.nii")
    nib.save(img, p)
    out.append((p, "generated"))
    return out


def dump(path):
    raw = os.path.join(WORK, "dump.raw")
    r = subprocess.run([DUMP, path, raw], capture_output=True, text=True)
    if r.returncode != 0:
        return None, None, r.stderr.strip()
    return json.loads(r.stdout), np.fromfile(raw, dtype=np.float32), None


def compare(path, why):
    before = len(failures)
    name = os.path.basename(path)
    im = nib.load(path)
    h = im.header
    hj, vals, err = dump(path)
    if hj is None:
        fail(f"{name}: proxyseg refused it: {err}")
        return
    shape = im.shape
    nd = int(hj["dim"][0])
    if tuple(int(x) for x in hj["dim"][1:1 + nd]) != tuple(shape):
        fail(f"{name}: shape {hj['dim'][1:1 + nd]} vs nibabel {shape}")
    zooms = h.get_zooms()
    if not np.allclose(hj["pixdim"][1:1 + nd], zooms, rtol=1e-6, atol=1e-7):
        fail(f"{name}: zooms {hj['pixdim'][1:1 + nd]} vs {zooms}")
    dt = str(h.get_data_dtype().newbyteorder("="))
    if hj["datatype"] != NAMES.get(dt, "?"):
        fail(f"{name}: datatype {hj['datatype']} vs {dt}")
    # nibabel moves scl_slope/inter from the loaded header into the array proxy
    slope = float(getattr(im.dataobj, "slope", 1.0))
    inter = float(getattr(im.dataobj, "inter", 0.0))
    if not (np.isclose(hj["scl_slope"], slope) and np.isclose(hj["scl_inter"], inter)):
        fail(f"{name}: scl {hj['scl_slope']},{hj['scl_inter']} vs {slope},{inter}")
    if int(h["qform_code"]) > 0 or int(h["sform_code"]) > 0:
        # with neither code, nibabel centres a base affine; proxyseg follows niftilib (diag pixdim)
        if not np.allclose(np.array(hj["affine"]), im.affine, rtol=1e-5, atol=1e-4):
            fail(f"{name}: affine\n{np.array(hj['affine'])}\nvs nibabel\n{im.affine}")
        codes = "".join(nib.aff2axcodes(im.affine))
        if hj["orientation"] != codes:
            fail(f"{name}: orientation {hj['orientation']} vs {codes}")
    ref = np.asarray(im.get_fdata(dtype=np.float64)).reshape(-1, order="F")
    if vals.size != ref.size:
        fail(f"{name}: {vals.size} voxels vs {ref.size}")
        return
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    err = float(np.max(np.abs(vals.astype(np.float64) - ref))) / scale
    if err > 2e-7:
        fail(f"{name}: voxel values differ, max rel err {err:.3g}")
    # proxyseg writes it back; nibabel must read the same geometry and values
    wdt = dt if (dt in CODES and slope == 1.0 and inter == 0.0) else "float32"
    out = os.path.join(WORK, "back_" + name.replace(".nii.gz", "").replace(".nii", "") + ".nii.gz")
    r = subprocess.run([DUMP, "--copy", path, out, str(CODES[wdt])], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{name}: proxyseg could not write it back: {r.stderr.strip()}")
        return
    back = nib.load(out)
    if back.shape != shape:
        fail(f"{name}: written back with shape {back.shape}")
    if not np.allclose(back.affine, np.array(hj["affine"]), rtol=1e-5, atol=1e-4):
        fail(f"{name}: written-back affine differs\n{back.affine}")
    if str(back.header.get_data_dtype()) != wdt:
        fail(f"{name}: written back as {back.header.get_data_dtype()}, wanted {wdt}")
    bvals = np.asarray(back.get_fdata(dtype=np.float64)).reshape(-1, order="F")
    berr = float(np.max(np.abs(bvals - ref))) / scale
    if berr > 2e-7:
        fail(f"{name}: written-back values differ, max rel err {berr:.3g}")
    flags = []  # what this file covers
    if h.endianness == ">":
        flags.append("big-endian")
    if len(shape) == 4:
        flags.append("4D")
    if isinstance(im, nib.Nifti2Image):
        flags.append("NIfTI-2")
    if (slope, inter) != (1.0, 0.0):
        flags.append("scaled")
    if int(h["sform_code"]) == 0:
        flags.append("qform-only" if int(h["qform_code"]) > 0 else "no-xform")
    if len(failures) == before:
        covered.append(f"{why:9s} {name:45s} {dt:8s} {hj['orientation']} {' '.join(flags)}")


files = candidates() + generated()
if not files:
    print("SKIPPED: no NIfTI files to compare", file=sys.stderr)
    sys.exit(77)
for f, why in files:
    try:
        compare(f, why)
    except Exception as e:  # a crash in the comparison is a failure, not a skip
        fail(f"{os.path.basename(f)}: {type(e).__name__}: {e}")
print("covered:")
for c in covered:
    print("  " + c)
print(f"{len(covered)} files agree, {len(failures)} failures")
sys.exit(1 if failures else 0)
