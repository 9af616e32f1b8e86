#!/usr/bin/env bash
# One option convention on every command: -h and --help print a usage on
# stdout and exit 0; --key=value means --key value; an unknown option or a
# missing value exits 2 naming it; internal commands stay out of the help; -q
# silences the info lines. Every command listed by `proxyseg --help` is covered
# (a command added without a case here fails the test).
set -uo pipefail
exe=$1
rm -rf tmp_cli_convention; mkdir -p tmp_cli_convention; cd tmp_cli_convention
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }
run() { "$@" > out.txt 2> err.txt; echo $?; }

"$exe" --help > help.txt 2>&1 || bad "proxyseg --help exited non-zero"
cmds=$(awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{if (n++) exit}' help.txt)
[ -n "$cmds" ] || bad "no commands listed by proxyseg --help"
grep -q "trial-run" help.txt && bad "the internal trial-run is listed in the help" || ok
for c in $cmds trial-run; do
  for h in -h --help; do
    rc=$(run "$exe" "$c" "$h")
    if [ "$rc" = 0 ] && grep -q "usage: proxyseg $c" out.txt && [ ! -s err.txt ]; then ok
    else bad "'$c $h' -> exit $rc, stdout: $(head -c 200 out.txt) stderr: $(head -c 200 err.txt)"; fi
  done
  rc=$(run "$exe" "$c" --no-such-option)
  if [ "$rc" = 2 ] && grep -q "unknown option.*--no-such-option" err.txt; then ok; else bad "'$c --no-such-option' -> exit $rc, $(head -c 200 err.txt)"; fi
done
rc=$(run "$exe" help train); { [ "$rc" = 0 ] && grep -q "usage: proxyseg train" out.txt; } && ok || bad "'proxyseg help train' -> $rc"
rc=$(run "$exe" --version); { [ "$rc" = 0 ] && grep -q "^proxyseg " out.txt; } && ok || bad "--version -> $rc"

# --key=value on every command: each case checks that the value arrived.
expect() { # expect CMD CODE WHERE PATTERN -- argv...
  local cmd=$1 code=$2 where=$3 pat=$4; shift 5
  local rc; rc=$(run "$@")
  if [ "$rc" = "$code" ] && grep -qE -- "$pat" "$where"; then ok; covered="$covered $cmd"
  else bad "'$*' -> exit $rc (want $code), stdout: $(head -c 300 out.txt) stderr: $(head -c 300 err.txt)"; fi
}
covered=""
expect generate 0 err.txt "generate: 4 MR cases of 16" -- "$exe" generate --out=ds --cases=4 --size=16 --seed=2 --modality=MR
[ "$(ls ds/imagesTr | wc -l)" = 4 ] && ok || bad "generate --cases=4 wrote $(ls ds/imagesTr | wc -l) images"
expect generate 2 err.txt "option '--out' needs a value" -- "$exe" generate --cases=4 --out
expect train 0 out.txt '"epochs":[[:space:]]*3' -- "$exe" train --print-config --set=epochs=3
expect train 0 out.txt '"lr":[[:space:]]*0.5' -- "$exe" train --set lr=0.5 --print-config
expect train 2 err.txt "unknown option or unexpected value '--resume=1'" -- "$exe" train --resume=1 --print-config
expect preprocess 0 err.txt "cache written to pp" -- "$exe" preprocess --dataset=ds --out=pp --spacing=1,1,1 --threads=1
grep -q '"target_spacing": *\[ *1, *1, *1 *\]' pp/plan.json 2>/dev/null || python3 -c "import json,sys; p=json.load(open('pp/plan.json')); sys.exit(p['target_spacing']!=[1,1,1])" && ok || bad "--spacing=1,1,1 not in plan.json"
expect proxy-data 0 out.txt '"kept": 2, "of": 4, "method": "random"' -- "$exe" proxy-data --dataset=ds --count=2 --method=random --cache=pp --out=pd.json
expect proxy-data 2 err.txt "--fraction '2': expected a number" -- "$exe" proxy-data --dataset=ds --fraction=2 --method=random --out=pd.json
mkdir -p truth; cp ds/labelsTr/*.nii.gz truth/
expect evaluate 0 err.txt "4 cases, foreground mean Dice 1.0000 -> ev.json" -- "$exe" evaluate --pred=truth --truth=ds/labelsTr --out=ev.json --labels=1
expect inspect 0 out.txt '"nifti_version"' -- "$exe" inspect -q "$(ls ds/imagesTr/*.nii.gz | head -1)"
grep -q '"axes":.*"i,j,k' out.txt && ok || bad "inspect FILE does not label its axes"
expect inspect 0 out.txt '"axes":[[:space:]]*"D,H,W = z,y,x' -- "$exe" inspect ds
expect inspect 2 err.txt "expected one PATH" -- "$exe" inspect a b
head -c 377 /dev/urandom > fake.h5
expect predict 3 err.txt "fake.h5" -- "$exe" predict --model=fake.h5 --input=ds/imagesTr --out=pred --overlap=0.25
expect predict 2 err.txt "--overlap 'x': expected a number" -- "$exe" predict --model=fake.h5 --input=ds/imagesTr --out=pred --overlap=x
expect search 2 err.txt "search space .* not found" -- "$exe" search --dataset=ds --space=nosuch.json --study=s1 --trials=1
expect search 2 err.txt "--trials 'many': expected an integer" -- "$exe" search --dataset=ds --space=lr_only --study=s1 --trials=many
expect study 2 err.txt "unknown key 'typo'" -- bash -c "echo '{\"typo\": 1}' > st.json; '$exe' study --config=st.json --out=st"
expect report 3 err.txt "nosuch: no study.json" -- "$exe" report --study=nosuch
expect demo 2 err.txt "--seed 'minus': expected an integer" -- "$exe" demo --seed=minus --out=demo
expect export 3 err.txt "nosuch: not a study folder" -- "$exe" export --study=nosuch --optuna=o.log
expect worker 2 err.txt "nosuch: no such study folder" -- "$exe" worker --study=nosuch --idle-exit=1
expect version 2 err.txt "unexpected argument 'extra'" -- "$exe" version extra
rc=$(run "$exe" trial-run --dir=nosuch_trial); [ "$rc" != 0 ] && grep -q "nosuch_trial" err.txt && ok || bad "trial-run --dir=nosuch_trial -> $rc: $(head -c 200 err.txt)"
for c in $cmds; do case " $covered " in *" $c "*) ok ;; *) bad "no --key=value case for '$c' in this test" ;; esac; done

# -q: info lines gone, the result still written; -v: debug lines allowed, nothing lost
rc=$(run "$exe" generate -q --out=ds_q --cases=2 --size=16); { [ "$rc" = 0 ] && [ ! -s err.txt ] && [ -s ds_q/dataset.json ]; } && ok || bad "generate -q -> $rc, stderr: $(head -c 200 err.txt)"
rc=$(run "$exe" generate --out=ds_v --cases=2 --size=16 --verbose); { [ "$rc" = 0 ] && grep -q "generate: 2" err.txt; } && ok || bad "generate --verbose -> $rc"
echo "cli_convention: $pass passed, $fail failed"
[ "$fail" = 0 ]
