#!/usr/bin/env bash
# Fetch Medical Segmentation Decathlon tasks (Task04_Hippocampus, Task05_Prostate,
# Task09_Spleen), verify each tarball's MD5 and unpack it unchanged into DEST,
# where `proxyseg` reads it as is. Checksums and mirror: see datasets/README.md.
#
#   datasets/fetch_msd.sh DEST [TASK ...]         download, verify, untar
#   datasets/fetch_msd.sh --file TAR DEST          verify and untar a tarball you downloaded
#   PS_MSD_BASE_URL=...  overrides the mirror (default: MONAI's MSD mirror on AWS S3)
set -euo pipefail

BASE_URL="${PS_MSD_BASE_URL:-https://msd-for-monai.s3-us-west-2.amazonaws.com}"

md5_of_task() {
  # MD5 values as published in MONAI's DecathlonDataset (monai/apps/datasets.py).
  case "$1" in
    Task04_Hippocampus) echo 9d24dba78a72977dbd1d2e110310f31b ;;
    Task05_Prostate)    echo 35138f08b1efaef89d7424d2bcc928db ;;
    Task09_Spleen)      echo 410d4a301da4e5b2f6f86ec3ddba524e ;;
    *) return 1 ;;
  esac
}

die() { echo "fetch_msd: $*" >&2; exit 1; }
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }

verify_and_extract() { # TAR TASK DEST
  local tar="$1" task="$2" dest="$3" want got
  want="$(md5_of_task "$task")" || die "unknown task '$task' (known: Task04_Hippocampus Task05_Prostate Task09_Spleen)"
  command -v md5sum >/dev/null || die "md5sum not found (coreutils)"
  got="$(md5sum "$tar" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    die "$tar: checksum mismatch for $task: md5 $got, expected $want (incomplete or altered download; delete it and retry)"
  fi
  echo "fetch_msd: $tar: md5 ok ($want)"
  tar -xf "$tar" -C "$dest" || die "$tar: cannot extract into $dest"
  [ -f "$dest/$task/dataset.json" ] || die "$dest/$task/dataset.json missing after extraction"
  echo "fetch_msd: $task ready in $dest/$task (use: proxyseg preprocess --dataset $dest/$task --out CACHE)"
}

file=""
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then usage; exit 0; fi
if [ "${1:-}" = "--file" ]; then
  [ $# -ge 3 ] || { usage >&2; exit 2; }
  file="$2"; shift 2
fi
[ $# -ge 1 ] || { usage >&2; exit 2; }
dest="$1"; shift
mkdir -p "$dest"

if [ -n "$file" ]; then
  [ -f "$file" ] || die "$file: no such file"
  task="$(basename "$file" .tar)"
  verify_and_extract "$file" "$task" "$dest"
  exit 0
fi

tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(Task04_Hippocampus Task05_Prostate Task09_Spleen)
if command -v curl >/dev/null; then fetch() { curl -fL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null; then fetch() { wget -O "$2" "$1"; }
else die "neither curl nor wget found"; fi

for task in "${tasks[@]}"; do
  md5_of_task "$task" >/dev/null || die "unknown task '$task' (known: Task04_Hippocampus Task05_Prostate Task09_Spleen)"
  if [ -f "$dest/$task/dataset.json" ]; then echo "fetch_msd: $task already in $dest, skipped"; continue; fi
  tar="$dest/$task.tar"
  if [ ! -f "$tar" ]; then
    echo "fetch_msd: downloading $BASE_URL/$task.tar"
    fetch "$BASE_URL/$task.tar" "$tar.part" || { rm -f "$tar.part"; die "download of $task failed"; }
    mv "$tar.part" "$tar"
  fi
  verify_and_extract "$tar" "$task" "$dest"
done
