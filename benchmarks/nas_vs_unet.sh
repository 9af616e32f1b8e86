#!/usr/bin/env bash
# The SCNAS claim at our scale: a cell network found by `search --algo
# gumbel-nas` on the demo's proxy, re-trained from scratch at full scale,
# against the demo's full-scale U-Net with the same budget and seeds.
# Searches s = 0..SEARCHES-1: search (seed s) on the proxy (kcenter half of the
# training cases, half the width) -> genotype.json. Per seed k: the genotype
# of search k mod SEARCHES, widened until its conv MACs match the U-Net's (the
# paper's equal-FLOPs rule), and the U-Net, both trained with seed k (the
# demo's 8 x 20 steps, patch 24³, batch 2) -> validation Dice (fold 0 of 4)
# and Dice on an external site-b set. SEARCHES 1 re-trains one found
# architecture over seeds (the paper's protocol); SEARCHES = SEEDS folds the
# search's own variance in. Prints one JSON object (per seed and mean ± SD);
# the machine and the per-step times come with it. Resumable: finished steps
# in WORK_DIR are kept.
#   usage: benchmarks/nas_vs_unet.sh BUILD_DIR [SEEDS (3)] [WORK_DIR (nas_vs_unet)] [SEARCHES (1)]
# Run it single-threaded and niced on a shared machine:
#   OMP_NUM_THREADS=1 nice -n 19 benchmarks/nas_vs_unet.sh build 3 /tmp/nvu > nas_vs_unet.json
set -euo pipefail
build=$(cd "${1:?usage: nas_vs_unet.sh BUILD_DIR [SEEDS] [WORK_DIR]}" && pwd)
seeds=${2:-3}
work=${3:-nas_vs_unet}
searches=${4:-1}
exe=$build/proxyseg
cost=$build/benchmarks/bench_net_cost
py=${PYTHON:-/usr/bin/python3}
for f in "$exe" "$cost"; do [ -x "$f" ] || { echo "nas_vs_unet: $f missing (build proxyseg bench_net_cost)" >&2; exit 2; }; done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$work"
cd "$work"
log() { echo "$(date +%T) nas_vs_unet: $*" >&2; }

# the demo's task, its full-scale training and its proxy (src/cli/cmd_study.c, seed 0)
[ -s ds/dataset.json ] || "$exe" generate -q --out ds --cases 24 --size 48 --seed 1
[ -s siteb/dataset.json ] || "$exe" generate -q --out siteb --cases 8 --size 48 --seed 101 --site b
[ -s proxy_cases.json ] || "$exe" proxy-data -q --dataset ds --cache cache --fraction 0.5 --method kcenter --seed 0 \
  --out proxy_cases.json > /dev/null
train=(--set patch=[24,24,24] --set batch=2 --set epochs=8 --set iters_per_epoch=20 --set val.folds=4
       --set val.every=100 --set val.overlap=0.25 --set threads=1)
echo '{"stages": 3, "base_features": 16}' > unet_arch.json
unet_macs=$("$cost" unet_arch.json 24 | "$py" -c 'import json,sys; print(json.load(sys.stdin)["macs"])')

# trains one model (name, seed, extra args), then scores the external set
run_train() {
  local name=$1 seed=$2; shift 2
  if [ ! -s "$name/metrics.json" ]; then
    rm -rf "$name"
    "$exe" train -q --dataset ds --cache cache --out "$name" "${train[@]}" --set seed="$seed" "$@" > /dev/null
  fi
  if [ ! -s "$name/siteb.json" ]; then
    rm -rf "$name/siteb_pred"
    "$exe" predict -q --model "$name/checkpoint.h5" --input siteb/imagesTr --out "$name/siteb_pred" --overlap 0.25
    "$exe" evaluate -q --pred "$name/siteb_pred" --truth siteb/labelsTr --out "$name/siteb.json" > /dev/null
  fi
}

for ((j = 0; j < searches; j++)); do
  s=search_$j
  if [ ! -s "$s/trials/0000/genotype.json" ]; then
    log "gumbel-nas search $j on the proxy"
    rm -rf "$s"
    t0=$SECONDS
    "$exe" search -q --dataset ds --algo gumbel-nas --study "$s" --seed "$j" --proxy-data proxy_cases.json \
      --proxy-net width=0.5,depth=0 "${train[@]}" > /dev/null
    echo $((SECONDS - t0)) > "$s/wall_seconds"
  fi
done

for ((k = 0; k < seeds; k++)); do
  g=search_$((k % searches))/trials/0000/genotype.json
  # the stem width whose conv MACs are closest to the U-Net's
  best=$("$py" - "$cost" "$g" "$unet_macs" <<'PY'
import json, subprocess, sys
cost, g, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
best = None
for stem in range(4, 65):
    m = json.loads(subprocess.check_output([cost, g, "24", str(stem)]))["macs"]
    if best is None or abs(m / target - 1) < abs(best[1] / target - 1): best = (stem, m)
print(best[0])
PY
)
  log "seed $k: derived cells at stem $best; re-training both networks"
  run_train cells_$k "$k" --arch "$g" --set net.stem_features="$best"
  run_train unet_$k "$k" --set net.stages=3 --set net.base_features=16
done

"$py" - "$seeds" "$cost" "$searches" <<'PY'
import json, statistics as st, subprocess, sys
seeds, cost, searches = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"): return line.split(":", 1)[1].strip()
def sd(v): return st.stdev(v) if len(v) > 1 else None   # null in JSON
def one(name, arch, stem=None):
    m = json.load(open(f"{name}/metrics.json"))
    c = json.load(open(f"{name}/config.json"))
    ext = json.load(open(f"{name}/siteb.json"))
    a = [arch, "24"] + ([str(stem)] if stem else [])
    nc = json.loads(subprocess.check_output([cost] + a))
    ep = m["epoch_seconds"][:-1] or m["epoch_seconds"]   # the last epoch also validates
    return {"val_dice": m["mean_dice"], "siteb_dice": ext["foreground_mean"]["dice"],
            "params": nc["params"], "gflops": nc["gflops"],
            "step_ms": 1e3 * st.median(ep) / c["iters_per_epoch"], "train_seconds": m.get("seconds", sum(m["epoch_seconds"]))}
rows = []
for k in range(seeds):
    g = f"search_{k % searches}/trials/0000/genotype.json"
    stem = json.load(open(f"cells_{k}/config.json"))["net"]["stem_features"]
    rows.append({"seed": k, "search": k % searches, "cells_stem": stem, "cells": one(f"cells_{k}", g, stem), "unet": one(f"unet_{k}", "unet_arch.json")})
summ = {}
for net in ("cells", "unet"):
    summ[net] = {}
    for key in ("val_dice", "siteb_dice", "step_ms", "params", "gflops", "train_seconds"):
        v = [r[net][key] for r in rows]
        summ[net][key] = {"mean": st.mean(v), "sd": sd(v)}
for key in ("val_dice", "siteb_dice"):
    d = [r["cells"][key] - r["unet"][key] for r in rows]
    summ[f"cells_minus_unet_{key}"] = {"mean": st.mean(d), "sd": sd(d), "wins": sum(x > 0 for x in d), "of": len(d)}
    if seeds > 1:   # the seed noise: within-network SD over seeds, pooled over the two networks
        summ[f"seed_sd_{key}"] = ((summ["cells"][key]["sd"] ** 2 + summ["unet"][key]["sd"] ** 2) / 2) ** 0.5
summ["step_ratio_cells_over_unet"] = st.mean(r["cells"]["step_ms"] / r["unet"]["step_ms"] for r in rows)
found = []
for j in range(searches):
    geno = json.load(open(f"search_{j}/trials/0000/genotype.json"))["genotype"]
    found.append({"search": j, "seconds": float(open(f"search_{j}/wall_seconds").read()),
                  "genotype": {t: [" + ".join(f'{e["op"]}@{e["from"]}' for e in node) for node in nodes] for t, nodes in geno.items()}})
print(json.dumps({"bench": "nas_vs_unet", "cpu": cpu(), "threads": 1, "seeds": seeds, "searches": found,
                  "per_seed": rows, "summary": summ}, indent=1))
PY
