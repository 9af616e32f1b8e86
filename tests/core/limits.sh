#!/usr/bin/env bash
# Under an address-space limit (ulimit -v) every command used to hang at 100 %
# CPU: OpenBLAS retries a failed 128 MiB buffer allocation forever. Now each
# ends with exit 1 and a message that names the limit; `timeout` turns a
# return of the hang into a failure (exit 124) instead of a stuck CTest.
set -uo pipefail
exe=$1
rm -rf tmp_limits; mkdir -p tmp_limits; cd tmp_limits
pass=0; fail=0
expect() { # expect CODE PATTERN LIMIT_KB -- command...
  local code=$1 pat=$2 lim=$3; shift 4
  (ulimit -v "$lim"; timeout 120 "$@") > out.txt 2> err.txt; local rc=$?
  if [ "$rc" = "$code" ] && grep -qE "$pat" err.txt out.txt; then pass=$((pass+1));
  else fail=$((fail+1)); echo "FAIL: ulimit -v $lim; '$*' -> exit $rc (want $code), stderr: $(tail -c 400 err.txt)"; fi
}
# at start-up, before main: refused by the guard that runs before OpenBLAS's initialiser
expect 1 "address-space limit \(ulimit -v\) leaves [0-9]+ MiB" 200000 -- "$exe" --version
expect 1 "address-space limit" 300000 -- "$exe" --version
# and it does not refuse what runs
expect 0 "proxyseg" 1000000 -- "$exe" --version
# in training: too little for one thread's BLAS buffer, or for the tensors (refused with an estimate)
"$exe" generate --out ds --cases 6 --size 48 --seed 1 2>/dev/null
args=(train --dataset ds --set 'patch=[64,64,64]' --set batch=4 --set epochs=1 --set iters_per_epoch=2)
"$exe" preprocess --dataset ds --out cache >/dev/null 2>&1 || true
expect 1 "each compute thread needs [0-9]+ MiB" 450000 -- "$exe" "${args[@]}" --cache cache --out t1
expect 2 "this configuration needs about [0-9.]+ GiB" 700000 -- "$exe" "${args[@]}" --cache cache --out t2
echo "limits: $pass passed, $fail failed"
[ "$fail" = 0 ]
