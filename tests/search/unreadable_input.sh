#!/usr/bin/env bash
# An input the user may not read is the input's problem, said as such: a search
# whose cached case has no read permission stops naming the file and
# "Permission denied" (HDF5 alone called it "truncated or corrupt"), journals
# no trial for it, and runs once the permission is back. Runs the search as
# user nobody (root reads everything); skips loudly without root or setpriv.
set -uo pipefail
exe=$1
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
  echo "SKIP: needs root and setpriv to run the search as an unprivileged user"; exit 77
fi
rm -rf tmp_unreadable; mkdir -p tmp_unreadable; cd tmp_unreadable
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
fail=0
"$exe" generate --out ds --cases 6 --size 16 --seed 2 2>/dev/null
chmod -R a+rwX . && chmod a+rwx .
args=(search --dataset ds --space lr_only --study s --seed 3 --set 'patch=[16,16,16]' --set net.stages=2
      --set net.base_features=4 --set epochs=2 --set iters_per_epoch=1 --set val.every=2 --set threads=1)
as_nobody "$exe" "${args[@]}" --trials 1 >/dev/null 2>err0.txt || { echo "FAIL: first trial: $(tail -3 err0.txt)"; exit 1; }
chmod 000 s/preprocessed/synth_003.h5
as_nobody "$exe" "${args[@]}" --trials 2 >/dev/null 2>err1.txt; rc=$?
if [ "$rc" = 0 ] || ! grep -q "synth_003.h5: cannot read: Permission denied" err1.txt; then
  fail=1; echo "FAIL: unreadable case: exit $rc, stderr: $(tail -c 600 err1.txt)"; fi
if grep -q '"trial":1' s/journal.jsonl; then fail=1; echo "FAIL: a trial was started on an unreadable input"; fi
chmod 644 s/preprocessed/synth_003.h5
as_nobody "$exe" "${args[@]}" --trials 2 >/dev/null 2>err2.txt || { fail=1; echo "FAIL: after chmod: $(tail -3 err2.txt)"; }
complete=$(grep -c '"state":"COMPLETE"' s/journal.jsonl)
[ "$complete" = 2 ] || { fail=1; echo "FAIL: $complete COMPLETE trials after the fix (want 2)"; }
[ "$fail" = 0 ] && echo "unreadable_input: passed"
exit $fail
