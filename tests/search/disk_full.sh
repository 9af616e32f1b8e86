#!/usr/bin/env bash
# A full disk fails the machine, not the configuration: the trial running when
# the disk fills is left RUNNING (never journaled FAIL) and the study stops
# saying so; once space is freed, the same command resumes and runs it again.
# The study lives on a small tmpfs (needs root and mount; skips loudly without).
set -uo pipefail
exe=$1
rm -rf tmp_disk_full; mkdir -p tmp_disk_full/mnt; cd tmp_disk_full
if ! mount -t tmpfs -o size=6m tmpfs mnt 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN) to fill a disk for real"; exit 77
fi
trap 'umount "$PWD/mnt" 2>/dev/null' EXIT
fail=0
"$exe" generate --out ds --cases 6 --size 16 --seed 2 2>/dev/null
args=(search --dataset ds --space lr_only --study mnt/s --seed 3 --set 'patch=[16,16,16]' --set net.stages=2
      --set net.base_features=4 --set epochs=2 --set iters_per_epoch=1 --set val.every=2 --set threads=1)
"$exe" "${args[@]}" --trials 1 >/dev/null 2>err0.txt || { echo "FAIL: first trial: $(tail -3 err0.txt)"; exit 1; }
# leave 24 KB: the journal's next start line fits, the trial's checkpoint does not
avail=$(df --output=avail -B1 mnt | tail -1)
head -c $((avail - 24576)) /dev/zero > mnt/filler 2>/dev/null
"$exe" "${args[@]}" --trials 2 >/dev/null 2>err1.txt; rc=$?
if [ "$rc" = 0 ] || ! grep -q "trial 1: the machine failed" err1.txt; then
  fail=1; echo "FAIL: disk full: exit $rc, stderr: $(tail -c 600 err1.txt)"; fi
if grep -q '"trial":1.*"FAIL"\|"FAIL".*"trial":1' mnt/s/journal.jsonl; then
  fail=1; echo "FAIL: the trial that met a full disk was journaled FAIL"; fi
rm -f mnt/filler
"$exe" "${args[@]}" --trials 2 >/dev/null 2>err2.txt || { fail=1; echo "FAIL: resume after freeing space: $(tail -3 err2.txt)"; }
ends=$(grep -c '"event":"end"' mnt/s/journal.jsonl)
complete=$(grep -c '"state":"COMPLETE"' mnt/s/journal.jsonl)
if [ "$ends" != 2 ] || [ "$complete" != 2 ]; then
  fail=1; echo "FAIL: after the resume the journal has $ends end events, $complete COMPLETE (want 2 and 2)"; cat mnt/s/journal.jsonl; fi
[ "$fail" = 0 ] && echo "disk_full: passed"
exit $fail
