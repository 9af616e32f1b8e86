"""Oracle for the metrics: ps_edt vs scipy.ndimage.distance_transform_edt
(sampling=), HD95 vs the MedPy definition built on scipy, and the
`proxyseg evaluate` CLI (Dice/HD95 JSON + CSV) on nibabel-written NIfTI files.
usage: aug_oracle_metrics.py EDT_DUMP_BIN [PROXYSEG_BIN]; exit 77 = skipped."""
import json, os, shutil, subprocess, sys, tempfile
try:
    import numpy as np
    from scipy import ndimage
except ImportError as e:
    print("SKIPPED: numpy/scipy missing: %s" % e, file=sys.stderr)
    sys.exit(77)

fails = 0
def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg, file=sys.stderr)

def surface(m):
    return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(3, 1))

def hd95(a, b, sp):
    sa, sb = surface(a), surface(b)
    da = ndimage.distance_transform_edt(~sa, sampling=sp)
    db = ndimage.distance_transform_edt(~sb, sampling=sp)
    return float(np.percentile(np.hstack((db[sa], da[sb])), 95))

def blob(shape, rng, n):
    m = np.zeros(shape, bool)
    zz, yy, xx = np.indices(shape)
    for _ in range(n):
        c = [rng.uniform(0.2, 0.8) * s for s in shape]
        r = [rng.uniform(0.1, 0.3) * s for s in shape]
        m |= ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1
    return m

rng = np.random.default_rng(0)
tmp = tempfile.mkdtemp(prefix="aug_oracle_")
edt_bin = sys.argv[1]
for t, (shape, sp) in enumerate([((17, 23, 29), (2.5, 0.7, 1.3)), ((30, 30, 30), (1.0, 1.0, 1.0)), ((12, 40, 33), (3.0, 0.8, 0.8))]):
    a = blob(shape, rng, 3)
    b = blob(shape, rng, 2)
    pa, pb, po = (os.path.join(tmp, "%s%d.raw" % (k, t)) for k in "abo")
    a.astype(np.uint8).tofile(pa); b.astype(np.uint8).tofile(pb)
    out = subprocess.run([edt_bin] + [str(s) for s in shape] + [str(s) for s in sp] + [pa, po, pb],
                         capture_output=True, text=True)
    check(out.returncode == 0, "edt dump failed: %s" % out.stderr)
    if out.returncode:
        continue
    mine = np.fromfile(po, dtype=np.float64).reshape(shape)
    ref = ndimage.distance_transform_edt(~a, sampling=sp)
    err = float(np.max(np.abs(mine - ref)))
    check(err < 1e-9, "EDT %s spacing %s: max error %g" % (shape, sp, err))
    h_ref = hd95(a, b, sp)
    h = float(out.stdout.strip())
    check(abs(h - h_ref) < 1e-9, "HD95 %s: %g vs scipy %g" % (shape, h, h_ref))
    print("case %d: EDT max err %.2e, HD95 %.6f (scipy %.6f)" % (t, err, h, h_ref))

if len(sys.argv) > 2:
    try:
        import nibabel as nib
    except ImportError:
        print("SKIPPED part: nibabel missing, CLI not checked", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(1 if fails else 77)
    pdir, tdir = os.path.join(tmp, "pred"), os.path.join(tmp, "truth")
    os.makedirs(pdir); os.makedirs(tdir)
    sp = (0.8, 0.8, 2.0)  # NIfTI order x, y, z
    expect = {}
    for c in range(3):
        shape_xyz = (24, 20, 14)
        t_lab = blob(shape_xyz, rng, 2).astype(np.uint8) + 2 * blob(shape_xyz, rng, 1).astype(np.uint8) * (c != 1)
        t_lab[t_lab > 2] = 2
        p_lab = np.roll(t_lab, 1 + c, axis=0)
        aff = np.diag(list(sp) + [1.0])
        name = "case_%03d.nii.gz" % c
        nib.save(nib.Nifti1Image(t_lab, aff), os.path.join(tdir, name))
        nib.save(nib.Nifti1Image(p_lab, aff), os.path.join(pdir, name))
        for k in (1, 2):
            pm, tm = p_lab == k, t_lab == k
            tp, fp, fn = int((pm & tm).sum()), int((pm & ~tm).sum()), int((~pm & tm).sum())
            d = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
            h = hd95(pm, tm, sp) if pm.any() and tm.any() else None
            expect[(name, k)] = (d, h, tp, fp, fn)
    outj = os.path.join(tmp, "eval.json")
    r = subprocess.run([sys.argv[2], "evaluate", "--pred", pdir, "--truth", tdir, "--out", outj, "--hd95", "--labels", "1,2"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "evaluate failed (%d): %s" % (r.returncode, r.stderr))
    if r.returncode == 0:
        j = json.load(open(outj))
        for cs in j["cases"]:
            for k in (1, 2):
                d, h, tp, fp, fn = expect[(cs["case"], k)]
                m = cs["classes"][str(k)]
                check((m["dice"] is None) == (d is None) and (d is None or abs(m["dice"] - d) < 1e-12), "%s class %d dice %s vs %s" % (cs["case"], k, m["dice"], d))
                check((m["hd95"] is None) == (h is None) and (h is None or abs(m["hd95"] - h) < 1e-6), "%s class %d hd95 %s vs %s" % (cs["case"], k, m["hd95"], h))
                check((m["tp"], m["fp"], m["fn"]) == (tp, fp, fn), "%s class %d tp/fp/fn" % (cs["case"], k))
        for k in (1, 2):
            ds = [expect[(n, k)][0] for n in sorted({n for n, _ in expect}) if expect[(n, k)][0] is not None]
            check(abs(j["mean"][str(k)]["dice"] - sum(ds) / len(ds)) < 1e-12, "mean dice class %d" % k)
        check(os.path.exists(os.path.join(tmp, "eval.csv")), "CSV missing")
        print("evaluate CLI: foreground mean Dice %s" % j["foreground_mean"]["dice"])
    r = subprocess.run([sys.argv[2], "evaluate", "--pred", tdir, "--truth", tmp], capture_output=True, text=True)
    check(r.returncode == 2, "missing --out must be a usage error, got %d" % r.returncode)

shutil.rmtree(tmp, ignore_errors=True)
print("aug_oracle_metrics: %d failed" % fails)
sys.exit(1 if fails else 0)
