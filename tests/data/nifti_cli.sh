#!/bin/sh
# proxyseg inspect: JSON for a good file, exit 3 with a message on stderr for
# every hostile NIfTI file, exit 2 on usage errors.
# usage: nifti_cli.sh PROXYSEG TEST_NIFTI WORKDIR
set -u
PS=$1 GEN=$2 DIR=$3
rm -rf "$DIR" && mkdir -p "$DIR/hostile" || exit 1
"$GEN" --write-hostile "$DIR/hostile" || { echo "FAIL: could not write hostile files"; exit 1; }
fails=0 n=0
for f in "$DIR"/hostile/*; do
  n=$((n + 1))
  "$PS" inspect "$f" >"$DIR/out" 2>"$DIR/err"; rc=$?
  if [ $rc -ne 3 ] || [ -s "$DIR/out" ] || ! grep -q "$(basename "$f")" "$DIR/err"; then
    echo "FAIL: inspect $(basename "$f"): exit $rc, stderr: $(cat "$DIR/err")"; fails=$((fails + 1))
  fi
done
"$PS" inspect >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL: inspect without PATH: exit $rc, want 2"; fails=$((fails + 1)); }
"$PS" inspect "$DIR/does-not-exist.nii" >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ] || { echo "FAIL: inspect of a missing file succeeded"; fails=$((fails + 1)); }
echo "$n hostile files, $fails failures"
[ $fails -eq 0 ]
