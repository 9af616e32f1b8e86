#!/usr/bin/env bash
# Hostile datasets (reliability issue #14), table-driven: each case builds a
# small dataset with one defect and expects an exit code and words on stderr,
# within a time limit (a hang is a failure, not a stuck test).
# usage: hostile_data.sh PROXYSEG PYTHON
set -uo pipefail
exe=$1 py=$2
if ! "$py" -c "import nibabel, numpy" 2>/dev/null; then
  echo "SKIP: $py lacks nibabel/numpy, needed to write the defective NIfTI files"; exit 77
fi
rm -rf tmp_hostile_data; mkdir -p tmp_hostile_data; cd tmp_hostile_data
pass=0; fail=0
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  timeout 60 "$@" > out.txt 2> err.txt; local rc=$?
  if [ "$rc" = "$code" ] && grep -qE "$pat" err.txt; then pass=$((pass+1));
  else fail=$((fail+1)); echo "FAIL: '$*' -> exit $rc (want $code, /$pat/), stderr: $(tail -c 400 err.txt)"; fi
}
fresh() { rm -rf "$1"; cp -r base "$1"; }
"$exe" generate --out base --cases 4 --size 16 --seed 3 2>/dev/null || { echo "FAIL: generate"; exit 1; }
img0=$(ls base/imagesTr | head -1)

# a case listed twice in 'training' (validation would leak into training)
fresh dup
"$py" - dup/dataset.json <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["training"].append(d["training"][0]); json.dump(d, open(p, "w"))
PY
expect 3 "training entries 0 and 4 have the same case id" -- "$exe" inspect dup
expect 3 "same case id" -- "$exe" preprocess --dataset dup --out dup_cache

# NaN and inf voxels: bad data, named with the file, never a "diverged" training later
for bad in nan inf; do
  fresh "v_$bad"
  "$py" - "v_$bad/imagesTr/$img0" "$bad" <<'PY'
import nibabel as nib, numpy as np, sys
p, bad = sys.argv[1], sys.argv[2]
im = nib.load(p); a = np.asarray(im.dataobj).astype(np.float32); a.flat[5] = float(bad)
h = im.header.copy(); h.set_data_dtype(np.float32)
nib.save(nib.Nifti1Image(a, im.affine, h), p)
PY
  # legal NIfTI (resampled images fill with NaN): a warning when read, refused as training data
  expect 0 "$img0: 1 voxel value\(s\) are NaN or infinite" -- "$exe" inspect "v_$bad/imagesTr/$img0"
  expect 3 "case synth_000: .*$img0: 1 voxel value\(s\) are NaN or infinite" -- "$exe" preprocess --dataset "v_$bad" --out "v_${bad}_cache"
done

# zero pixdim: spacing from the affine, with a warning (never silent)
fresh pix0
"$py" - "pix0/imagesTr/$img0" <<'PY'
import sys
import gzip, struct
p = sys.argv[1]; raw = bytearray(gzip.open(p).read())  # nibabel would repair pixdim on save: patch the bytes
raw[80:84] = struct.pack("<f", 0.0)                    # pixdim[1] of a NIfTI-1 header (offset 76 + 4)
gzip.open(p, "wb").write(bytes(raw))
PY
expect 0 "pixdim\[1\] is 0; spacing .* taken from the affine" -- "$exe" inspect "pix0/imagesTr/$img0"

# a singular affine (sform with a zero column): refused naming the file (the message did not)
fresh sing
"$py" - "sing/imagesTr/$img0" "sing/labelsTr/$img0" <<'PY'
import gzip, struct, sys
for p in sys.argv[1:]:  # image and label alike, so their geometries still agree
    raw = bytearray(gzip.open(p).read())
    raw[252:256] = struct.pack("<2h", 0, 1)                                # qform_code 0, sform_code 1
    raw[280:328] = struct.pack("<12f", 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)  # srow_x 0: column i is zero
    gzip.open(p, "wb").write(bytes(raw))
PY
expect 3 "imagesTr/$img0: singular affine: its column 0 \(voxel axis i\) is zero" -- "$exe" preprocess --dataset sing --out sing_cache

# absurd spacings: every derived shape is checked (a signed overflow, a calloc
# size overflow or an undefined float->int cast before), refused with exit 3
expect 3 "synth_000: resampling .* would give .* voxels, more than the" -- "$exe" preprocess --dataset base --out tiny --spacing 1e-6,1e-6,1e-6
for pd in 1e-7 1e7; do
  fresh "pd_$pd"
  "$py" - "$pd" "pd_$pd/imagesTr/$img0" "pd_$pd/labelsTr/$img0" <<'PY'
import gzip, struct, sys
v = float(sys.argv[1])
for p in sys.argv[2:]:  # image and label alike, so their geometries still agree
    raw = bytearray(gzip.open(p).read())
    raw[80:92] = struct.pack("<3f", v, v, v)  # pixdim[1..3]
    raw[252:256] = struct.pack("<2h", 0, 0)   # qform_code, sform_code 0: spacing from pixdim alone
    gzip.open(p, "wb").write(bytes(raw))
PY
done
expect 3 "synth_000: resampling .* of spacing 1e\+07,1e\+07,1e\+07 mm .* would give" -- "$exe" preprocess --dataset pd_1e7 --out pd_big_cache --spacing 1,1,1
expect 0 "cache written" -- "$exe" preprocess --dataset pd_1e-7 --out pd_small_cache

# a gzip bomb: 256 KB declaring 256 Mi uint8 voxels (1 GiB as floats), under a
# limit that cannot hold it: refused before inflating, naming the file and sizes
"$py" - <<'PY'
import gzip, struct
hdr = bytearray(352)
struct.pack_into("<i", hdr, 0, 348)
struct.pack_into("<8h", hdr, 40, 3, 512, 512, 1024, 1, 1, 1, 1)
struct.pack_into("<hh", hdr, 70, 2, 8)                  # uint8, 8 bits
struct.pack_into("<8f", hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
struct.pack_into("<f", hdr, 108, 352)                   # vox_offset
hdr[344:348] = b"n+1\0"
with gzip.open("bomb.nii.gz", "wb", compresslevel=9) as f:
    f.write(bytes(hdr))
    for _ in range(16): f.write(bytes(1 << 24))
PY
# (not under AddressSanitizer: its shadow memory cannot start under ulimit -v)
if grep -q __asan_init "$exe"; then echo "note: ASan build, the ulimit -v row (gzip bomb) is not run"
else expect 1 "bomb.nii.gz: reading its 268435456 voxels would take about [0-9]+ MiB, more than" -- bash -c "ulimit -v 1500000; exec \"$exe\" inspect bomb.nii.gz"; fi

# a cache file damaged in place (same size): its checksum in plan.json fails, so
# the cache is rebuilt instead of handed to HDF5 (which overflowed a buffer on
# such files, fuzz_cache)
"$exe" preprocess --dataset base --out flip_cache 2>/dev/null
"$py" -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x5a; open(p, 'wb').write(b)" \
  flip_cache/synth_001.h5
expect 0 "cache written to flip_cache" -- "$exe" preprocess --dataset base --out flip_cache

# a file name that is not UTF-8 (Linux names are bytes): inspect's JSON stays valid JSON
u8name="caf$(printf '\351').nii.gz"
cp "base/imagesTr/$img0" "$u8name"
if "$exe" inspect "$u8name" 2>/dev/null | "$py" -c "import json, sys; assert json.load(sys.stdin)['path'].startswith('caf')"; then
  pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: inspect of a non-UTF-8 file name printed invalid JSON"; fi

# an nnU-Net label id beyond 8 bits (1e300 was an undefined float->int cast)
mkdir -p nn_big/imagesTr nn_big/labelsTr
echo '{"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1e300}, "numTraining": 0, "file_ending": ".nii.gz"}' > nn_big/dataset.json
expect 3 "label 'organ' must map to an integer id in 0..255" -- "$exe" inspect nn_big

# dataset.json that is not a regular file: a FIFO (used to block in fopen), a
# folder, a dangling link, a link loop
fresh fifo; rm fifo/dataset.json; mkfifo fifo/dataset.json
expect 3 "dataset.json: not a regular file" -- "$exe" inspect fifo
fresh dirjson; rm dirjson/dataset.json; mkdir dirjson/dataset.json
expect 3 "dataset.json: not a regular file" -- "$exe" inspect dirjson
fresh dangling; rm dangling/dataset.json; ln -s nowhere.json dangling/dataset.json
expect 3 "dataset.json" -- "$exe" inspect dangling
fresh loop; rm loop/dataset.json; ln -s dataset.json loop/dataset.json
expect 3 "dataset.json" -- "$exe" inspect loop

echo "hostile datasets: $pass passed, $fail failed"
[ "$fail" = 0 ]
