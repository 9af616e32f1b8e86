# Oracle for tests/proxy/test_noise.c, computed independently with SciPy:
#  - split-half noise ceilings: mean Spearman between the two halves' means over
#    every balanced split of R replicates (a split and its complement counted
#    once), Spearman-Brown corrected: 2r / (1 + r); for R = 10 and 40, where
#    proxyseg samples 64 splits, the mean over all or 1000 random splits;
#  - one-sided permutation p-values of Spearman / Kendall / Pearson over
#    pairings (scipy.stats.permutation_test, alternative='greater'), exact for
#    n <= 8 (our exact path runs to 9) and sampled (20000 resamples) for n = 12.
# Usage: noise_scipy.py OUT.json [SEED]
import itertools, json, sys, warnings
import numpy as np
from scipy import stats

warnings.simplefilter("ignore")
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 7)

def ceiling(full):
    n, R = full.shape
    h = R // 2
    rs = []
    for half in itertools.combinations(range(R), h):
        if 2 * h == R and 0 in half:
            continue  # its complement holds 0 and gives the same correlation
        other = [r for r in range(R) if r not in half]
        a = full[:, list(half)].mean(axis=1); b = full[:, other].mean(axis=1)
        rs.append(stats.spearmanr(a, b).correlation)
    r = float(np.mean(rs))
    return r, 2 * r / (1 + r)

ceil_cases = []
for R in (2, 3, 4, 5):
    for n in (5, 8, 13):
        truth = rng.uniform(0.3, 0.9, n)
        full = truth[:, None] + rng.normal(0, 0.08, (n, R))
        r, c = ceiling(full)
        ceil_cases.append({"full": full.tolist(), "split_half": r, "ceiling": c})

# From R = 9 on, proxyseg averages 64 random balanced splits instead of all of
# them: compare against the mean over every split (R = 10: 126) or over 1000
# random ones (R = 40). Seed noise 0.15 gives split-to-split SD about 0.05, so
# a 64-split mean lies within 0.01 of it (1 SE) and the test allows 0.035.
sampled_cases = []
for R in (10, 40):
    n = 13
    truth = rng.uniform(0.3, 0.9, n)
    full = truth[:, None] + rng.normal(0, 0.15, (n, R))
    if R == 10:
        r, c = ceiling(full)
    else:
        rs = []
        for _ in range(1000):
            p = rng.permutation(R)
            rs.append(stats.spearmanr(full[:, p[:R // 2]].mean(axis=1), full[:, p[R // 2:]].mean(axis=1)).correlation)
        r = float(np.mean(rs)); c = 2 * r / (1 + r)
    sampled_cases.append({"full": full.tolist(), "split_half": r, "ceiling": c})

def pearson_v(x, y, axis=-1):
    xm = x - x.mean(axis=axis, keepdims=True); ym = y - y.mean(axis=axis, keepdims=True)
    return (xm * ym).sum(axis=axis) / np.sqrt((xm ** 2).sum(axis=axis) * (ym ** 2).sum(axis=axis))

def rank_v(a, axis=-1):  # average ranks like stats.rankdata, without its per-row loop
    a = np.moveaxis(np.asarray(a, float), axis, -1)
    less = (a[..., None, :] < a[..., :, None]).sum(-1); equal = (a[..., None, :] == a[..., :, None]).sum(-1)
    return np.moveaxis(less + (equal + 1) / 2.0, -1, axis)

def spearman_v(x, y, axis=-1):
    return pearson_v(rank_v(x, axis), rank_v(y, axis), axis)

def kendall_v(x, y, axis=-1):  # tau-b, vectorised over leading axes
    x = np.moveaxis(np.asarray(x, float), axis, -1); y = np.moveaxis(np.asarray(y, float), axis, -1)
    dx = np.sign(x[..., :, None] - x[..., None, :]); dy = np.sign(y[..., :, None] - y[..., None, :])
    n = x.shape[-1]; iu = np.triu_indices(n, 1)
    dx = dx[..., iu[0], iu[1]]; dy = dy[..., iu[0], iu[1]]
    return (dx * dy).sum(-1) / np.sqrt((dx != 0).sum(-1) * (dy != 0).sum(-1))

# vectorised statistics (checked against scipy's own functions below) keep the
# exact enumeration of 8! pairings fast
stat_fns = {"spearman": spearman_v, "kendall": kendall_v, "pearson": pearson_v}
_x, _y = rng.uniform(size=9), np.round(rng.uniform(size=9), 1)
assert np.allclose(rank_v(_y), stats.rankdata(_y))
assert abs(spearman_v(_x, _y) - stats.spearmanr(_x, _y).correlation) < 1e-12
assert abs(kendall_v(_x, _y) - stats.kendalltau(_x, _y).correlation) < 1e-12
assert abs(pearson_v(_x, _y) - stats.pearsonr(_x, _y)[0]) < 1e-12
perm_cases = []
for n in (4, 6, 7, 8, 12):
    x = rng.uniform(size=n)
    y = 0.5 * x + rng.uniform(size=n)
    if n == 6:
        y = np.round(y, 1)  # ties
    case = {"x": x.tolist(), "y": y.tolist(), "exact": n <= 8}
    for name, fn in stat_fns.items():
        # one sample permuted against fixed y: n! pairings (with both samples
        # given, scipy would enumerate (n!)^2 arrangements for the same p)
        res = stats.permutation_test((x,), lambda xs, axis=-1, fn=fn: fn(xs, np.broadcast_to(y, xs.shape), axis),
                                     permutation_type="pairings", alternative="greater",
                                     n_resamples=np.inf if n <= 8 else 20000, vectorized=True,
                                     random_state=np.random.default_rng(1))
        case[name] = float(res.pvalue)
    perm_cases.append(case)
json.dump({"ceiling": ceil_cases, "ceiling_sampled": sampled_cases, "permutation": perm_cases}, open(sys.argv[1], "w"))
