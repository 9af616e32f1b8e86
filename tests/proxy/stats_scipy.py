# Oracle for tests/proxy/test_stats.c: random score vectors with many ties and
# SciPy's spearmanr, kendalltau (tau-b) and pearsonr on them, written as JSON.
# Usage: stats_scipy.py OUT.json [SEED]
import json, sys, warnings
import numpy as np
from scipy import stats

warnings.simplefilter("ignore")  # constant inputs warn; we record null instead
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1234)

def val(v):
    v = float(v)
    return v if np.isfinite(v) else None

cases = []
for n in [3, 4, 5, 7, 10, 20, 33, 60, 100]:
    for kind in range(4):
        if kind == 0:   # heavy ties on both sides
            x = rng.integers(0, 4, n).astype(float); y = rng.integers(0, 3, n).astype(float)
        elif kind == 1: # correlated, ties from rounding
            x = rng.normal(size=n); y = np.round(x + 0.5 * rng.normal(size=n), 1); x = np.round(x, 1)
        elif kind == 2: # continuous, no ties
            x = rng.uniform(size=n); y = 0.3 * x + rng.uniform(size=n)
        else:           # Dice-like scores in [0,1] with a tie block
            x = np.round(rng.uniform(0.5, 0.9, n), 2); y = np.round(x + rng.normal(0, 0.05, n), 2)
        cases.append({"x": x.tolist(), "y": y.tolist(),
                      "spearman": val(stats.spearmanr(x, y)[0]),
                      "kendall": val(stats.kendalltau(x, y, variant="b")[0]),
                      "pearson": val(stats.pearsonr(x, y)[0]) if n >= 2 else None})
# a constant vector: SciPy gives nan for every statistic
cases.append({"x": [1.0, 1.0, 1.0, 1.0], "y": [0.1, 0.2, 0.3, 0.4],
              "spearman": None, "kendall": None, "pearson": None})
json.dump({"cases": cases}, open(sys.argv[1], "w"))
