# Oracle for search/asng.c: numpy transcription of the reference's
# CategoricalASNG.update (../shared/reference/asng.md 1.2-1.6) replayed on the
# samples and losses test_asng dumped; prints the largest theta difference and
# both step sizes. One deliberate deviation, also in the C code: ties are
# detected with |f| (the reference's eps*f misses exact ties of negative losses).
import sys
import numpy as np

lines = open(sys.argv[1]).read().split('\n')
head = lines[0].split()
d, lam = int(head[1]), int(head[2])
cats = np.array([int(x) for x in head[3:3 + d]])
Cmax = cats.max()
theta = np.zeros((d, Cmax))
for i in range(d):
    theta[i, :cats[i]] = 1 / cats[i]
N = np.sum(cats - 1)
valid_d = np.sum(cats > 1)
delta_init, Delta, alpha, gamma, s = 1.0, 1.0, 1.5, 0.0, np.zeros(N)


def utility(f, rho=0.25):
    eps = 1e-14
    idx = np.argsort(f, kind='stable')
    n = len(f)
    mu = int(np.ceil(n * rho))
    _w = np.zeros(n)
    _w[:mu] = 1 / mu
    _w[n - mu:] = -1 / mu
    w = np.zeros(n)
    istart = 0
    for i in range(n - 1):
        if f[idx[i + 1]] - f[idx[i]] < eps * abs(f[idx[i]]):
            pass
        elif istart < i:
            w[istart:i + 1] = np.mean(_w[istart:i + 1])
            istart = i + 1
        else:
            w[i] = _w[i]
            istart = i + 1
    w[istart:] = np.mean(_w[istart:])
    return w, idx


def clip(theta):
    for i in range(d):
        ci = cats[i]
        tmin = 1 / (valid_d * (ci - 1)) if ci > 1 else 0
        theta[i, :ci] = np.maximum(theta[i, :ci], tmin)
        S = theta[i, :ci].sum()
        tmp = S - tmin * ci
        theta[i, :ci] -= (S - 1) * (theta[i, :ci] - tmin) / tmp
        theta[i, :ci] /= theta[i, :ci].sum()


for L in lines:
    if not L.startswith('S '):
        continue
    a, b = L[2:].split(' F ')
    smp = np.array([int(x) for x in a.split()]).reshape(lam, d)
    f = np.array([float(x) for x in b.split()])
    M = np.zeros((lam, d, Cmax))
    for k in range(lam):
        for i in range(d):
            M[k, i, smp[k, i]] = 1
    delta = delta_init / Delta
    beta = delta / np.sqrt(N)
    u, idx = utility(f)
    if np.var(u) == 0:
        continue
    ngrad = np.mean((u - np.mean(u))[:, None, None] * (M[idx] - theta), axis=0)
    if np.all(np.abs(ngrad) < 1e-18):
        continue
    sl = []
    for i, K in enumerate(cats):
        th, thK, g = theta[i, :K - 1], theta[i, K - 1], ngrad[i, :K - 1]
        sl += list(g / np.sqrt(th) + np.sqrt(th) * np.sum(g) / (thK + np.sqrt(thK)))
    sl = np.array(sl)
    pnorm = np.sqrt(np.dot(sl, sl))
    theta += delta * ngrad / pnorm
    clip(theta)
    s = (1 - beta) * s + np.sqrt(beta * (2 - beta)) * sl / pnorm
    gamma = (1 - beta) ** 2 * gamma + beta * (2 - beta)
    Delta *= np.exp(beta * (gamma - np.dot(s, s) / alpha))

T = [L for L in lines if L.startswith('T ')][0]
tc = np.array([float(x) for x in T.split()[1:]]).reshape(d, Cmax)
dc = float([L for L in lines if L.startswith('DELTA ')][0].split()[1])
print("max_theta_diff %.6g delta_c %.17g delta_ref %.17g" % (np.abs(tc - theta).max(), dc, delta_init / Delta))
