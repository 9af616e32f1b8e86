#!/usr/bin/env bash
# Known-answer test of the whole Gumbel-NAS search (Algorithm 1, bi-level
# updates, real training): a task where one operation on one edge is the only
# way to the answer, found by `search --algo gumbel-nas` in most seeds.
#
# The task (gumbel_known_task.py): the image is a random sign per slice along
# the first axis, the label of slice x is the sign of slice x + 5. The network
# (cells, levels 1, nodes 1, stem 4) sees full resolution only on the path
# stem (3³) -> decoder_normal cell input 1 (1³) -> the edge from input 1 to
# node 0 -> 1³ out block; everything else went through a stride-2 cell and a
# trilinear upsampling. On that edge only dil_sep_conv_3x3x3_r4 reaches 5
# slices away (its taps at ±4 plus the stem's ±1; r3 reaches 4, r2 3, conv 2,
# pooling and identity 1 or 0), so it is the op the search should rank first.
#
# Measured (the test's settings, seeds 1-9, before the Winograd 3³ conv): r4
# on top of alpha for that edge in 8 of 9 seeds (alpha share 0.25-0.84; the
# miss, seed 3, did not learn the task: Dice 0.68, alpha flat); with the
# Winograd conv's rounding seeds 1-5 give 5 of 5 (shares 0.45-0.78). With 6 training cases of 16³ instead of 12
# crops of 32x16x16 the rate was 3 of 5 (the weights memorised the cases and
# some seeds routed through the coarse path, with `zero` on top). The test
# runs seeds 1-5 and asks for r4 on top in at least 3: at a per-seed rate of
# 0.89 that passes with probability 0.99, at 0.5 (a search half as good) with
# 0.5, and a search that ignored the task (r4 first by chance, 1/8) with 0.02.
set -euo pipefail
exe=$1; py=${2:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
"$py" -c 'import nibabel, numpy' 2>/dev/null || { echo "SKIPPED: nibabel/numpy missing for $py (needed to write the task)"; exit 77; }
rm -rf tmp_gumbel_known; mkdir -p tmp_gumbel_known; cd tmp_gumbel_known
"$py" "$here/gumbel_known_task.py" ds 12 5 1
args=(--dataset ds --algo gumbel-nas --set net.family=cells --set net.stem_features=4 --set net.levels=1
      --set net.nodes=1 --set patch=[16,16,16] --set batch=1 --set aug.preset=none --set val.folds=4
      --set val.every=100 --set threads=1 --set epochs=8 --set iters_per_epoch=20
      --algo-opt alpha_lr=0.05 --algo-opt weights_lr=0.01 --algo-opt warmup_epochs=3)
hits=0
for seed in 1 2 3 4 5; do
  "$exe" search "${args[@]}" --seed $seed --study s$seed > /dev/null 2> s$seed.log || { tail -20 s$seed.log; exit 1; }
  top=$("$py" - s$seed/trials/0000/alpha_history.json <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
ops = [o.strip() for o in h["op_order"].split(",")]
p = h["epochs"][-1]["probs"]["decoder_normal"][1]   # node 0's edge from input 1
print(ops[max(range(len(p)), key=p.__getitem__)], round(max(p), 3))
PY
)
  echo "seed $seed: decoder_normal edge (input 1 -> node 0) top op: $top"
  [ "${top%% *}" = dil_sep_conv_3x3x3_r4 ] && hits=$((hits + 1))
done
echo "dil_sep_conv_3x3x3_r4 on top in $hits of 5 seeds"
[ $hits -ge 3 ] || { echo "FAIL: the search found the known answer in $hits of 5 seeds (need 3)"; exit 1; }
echo "gumbel known answer: OK"
