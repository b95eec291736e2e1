"""Lesson ``definitions``: what the study notes define, computed with torch and compared with the formula.

The notes define a good deal that needs no training to check: PyTorch's default initialization, what
``zero_grad``, ``view``, ``eval()`` and ``shuffle=True`` do, the ranges and slopes of activations, the
batch-norm and layer-norm formulas, L2 versus weight decay, the output size of a convolution. Each
check here computes the quantity with torch and compares it with the formula, within a stated
tolerance; where the notes state it differently the claim says what PyTorch does and the page shows
the measurement. Three small experiments (shuffling, minibatch gradient noise, an init plateau) train
a softmax regression or a small MLP on scikit-learn's ``digits`` for a few hundred steps.
Every check runs in well under a second; the lesson is the same with ``--quick``.
"""

from __future__ import annotations

import math
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from trainlab.lessons import LESSONS
from trainlab.lessons.base import LessonContext, Report, new_figure


def _f(x: torch.Tensor | float) -> float:
    """A tensor's (or a number's) value as a float, outside autograd."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _digits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits scaled to [0, 1], split 1,400 / 397 with a seeded permutation."""
    # lazy: scikit-learn loads only for the three small experiments of this lesson
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    xt, yt = torch.tensor(x, dtype=torch.float32)[perm] / 16.0, torch.tensor(y)[perm]
    return xt[:1400], yt[:1400], xt[1400:], yt[1400:]


def _std(t: torch.Tensor) -> float:
    return _f(t.double().std())


def _init_checks(r: Report) -> None:
    """Default init, its fan-in scaling, and kaiming_normal_."""
    lin, conv = nn.Linear(512, 512), nn.Conv2d(64, 64, 3)
    rows = []
    ok = True
    for name, m, fan_in, fan_out in [("nn.Linear(512, 512)", lin, 512, 512), ("nn.Conv2d(64, 64, 3)", conv, 576, 576)]:
        got, default = _std(m.weight), 1 / math.sqrt(3 * fan_in)
        xavier, he = math.sqrt(2 / (fan_in + fan_out)), math.sqrt(2 / fan_in)
        ok = ok and abs(got / default - 1) < 0.03 and abs(got / xavier - 1) > 0.2 and abs(got / he - 1) > 0.2
        rows.append(f"{name}: std {got:.4f}; 1/√(3·fan_in) {default:.4f}, Xavier {xavier:.4f}, He {he:.4f}")
    r.claim(
        "PyTorch's default init of nn.Linear and nn.Conv2d is kaiming_uniform with a=√5: weight std 1/√(3·fan_in), "
        "neither Xavier nor He",
        "measured weight std within 3% of 1/√(3·fan_in) and more than 20% away from Xavier's √(2/(fan_in+fan_out)) "
        "and He's √(2/fan_in), "
        "for a 512→512 linear layer and a 64→64 3×3 convolution",
        "; ".join(rows),
        ok,
    )
    fans = [64, 256, 1024, 4096]
    stds = [_std(nn.Linear(f, 256).weight) for f in fans]
    by_sqrt = [s * math.sqrt(f) for s, f in zip(stds, fans, strict=True)]
    by_lin = [s * f for s, f in zip(stds, fans, strict=True)]
    r.claim(
        "the default init's std scales with 1/√fan_in, not with 1/fan_in (inversely proportional to the layer's size)",
        "std·√fan_in the same within 5% for fan_in 64, 256, 1024, 4096, while std·fan_in grows ≥ 5× across them",
        f"std {', '.join(f'{s:.4f}' for s in stds)}; std·√fan_in {', '.join(f'{v:.3f}' for v in by_sqrt)}; "
        f"std·fan_in {', '.join(f'{v:.2f}' for v in by_lin)}",
        max(by_sqrt) / min(by_sqrt) < 1.05 and by_lin[-1] / by_lin[0] >= 5,
    )
    a, b = nn.Linear(256, 64), nn.Linear(256, 1024)
    nn.init.kaiming_normal_(a.weight)
    nn.init.kaiming_normal_(b.weight)
    he = math.sqrt(2 / 256)
    r.claim(
        "kaiming_normal_ (He) sets std √(2/fan_in): it depends on the input size only, not on the output size",
        "std of 256→64 and of 256→1024 layers both within 5% of √(2/256)",
        f"256→64: {_std(a.weight):.4f}, 256→1024: {_std(b.weight):.4f}, √(2/256) = {he:.4f}",
        abs(_std(a.weight) / he - 1) < 0.05 and abs(_std(b.weight) / he - 1) < 0.05,
    )


def _autograd_checks(r: Report) -> None:
    """Linear layers, a GD step, backward against finite differences, zero_grad, no_grad, view."""
    torch.manual_seed(0)
    lin = nn.Linear(5, 3).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    diff = _f((lin(x) - (x @ lin.weight.T + lin.bias)).abs().max())
    mlp = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    by_hand = F.relu(x @ mlp[0].weight.T + mlp[0].bias) @ mlp[2].weight.T + mlp[2].bias
    diff2 = _f((mlp(x) - by_hand).abs().max())
    r.claim(
        "a layer computes the affine map xWᵀ + b, and an MLP alternates affine maps with nonlinearities",
        "nn.Linear and a Linear–ReLU–Linear stack equal the formulas written out by hand within 1e-12 (float64)",
        f"max difference {diff:.1e} (layer), {diff2:.1e} (MLP)",
        diff < 1e-12 and diff2 < 1e-12,
    )

    y = torch.randn(7, 3, dtype=torch.float64)
    loss = F.mse_loss(lin(x), y)
    loss.backward()
    grads = [p.grad.clone() for p in lin.parameters()]
    fd_err = 0.0
    with torch.no_grad():
        for p, g in zip(lin.parameters(), grads, strict=True):
            for i in range(min(p.numel(), 6)):
                flat = p.view(-1)
                old = _f(flat[i])
                flat[i] = old + 1e-6
                up = _f(F.mse_loss(lin(x), y))
                flat[i] = old - 1e-6
                down = _f(F.mse_loss(lin(x), y))
                flat[i] = old
                fd_err = max(fd_err, abs((up - down) / 2e-6 - _f(g.view(-1)[i])))
    r.claim(
        "backward() fills every parameter's .grad with the partial derivative of the loss",
        "autograd gradients agree with central finite differences within 1e-6 (float64)",
        f"largest difference {fd_err:.1e}",
        fd_err < 1e-6,
    )

    before = [p.detach().clone() for p in lin.parameters()]
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    opt.step()
    step_err = max(
        _f((p.detach() - (b - 0.1 * g)).abs().max()) for p, b, g in zip(lin.parameters(), before, grads, strict=True)
    )
    after = _f(F.mse_loss(lin(x), y))
    r.claim(
        "a gradient-descent step subtracts learning rate × gradient from each parameter, and a small step lowers the "
        "loss",
        "optim.SGD(lr=0.1).step() equals p − 0.1·∂L/∂p within 1e-12, and the loss after the step is lower",
        f"step vs formula {step_err:.1e}; loss {_f(loss):.4f} → {after:.4f}",
        step_err < 1e-12 and after < _f(loss),
    )

    opt.zero_grad()
    lin.zero_grad(set_to_none=False)
    F.mse_loss(lin(x), y).backward()
    once = lin.weight.grad.clone()
    F.mse_loss(lin(x), y).backward()
    ratio = _f((lin.weight.grad / once).mean())
    r.claim(
        "forgetting zero_grad makes gradients accumulate: a second backward adds to the first",
        "after two backward passes without zero_grad the gradient is 2× one pass's (within 1e-9)",
        f"gradient after two passes / one pass = {ratio:.6f}",
        abs(ratio - 2) < 1e-9,
    )
    opt.zero_grad()
    none = all(p.grad is None for p in lin.parameters())
    r.claim(
        "optimizer.zero_grad() clears the gradients — since PyTorch 2.0 by setting .grad to None, not to zeros",
        "after zero_grad() every parameter's .grad is None (zero_grad(set_to_none=False) gives zeros)",
        f"PyTorch {torch.__version__}: .grad is {'None' if none else 'a tensor'} for every parameter",
        none,
    )

    with torch.no_grad():
        out = lin(x)
    r.claim(
        "under torch.no_grad() no graph is recorded (evaluation needs no gradients)",
        "an output computed under no_grad has requires_grad False and no grad_fn",
        f"requires_grad {out.requires_grad}, grad_fn {out.grad_fn}",
        not out.requires_grad and out.grad_fn is None,
    )

    t = torch.arange(12.0).reshape(3, 4)
    shares = t.view(4, 3).data_ptr() == t.data_ptr()
    try:
        t.t().view(-1)
        view_fails = False
    except RuntimeError:
        view_fails = True
    copies = t.t().reshape(-1).data_ptr() != t.data_ptr()
    r.claim(
        "view is a reshape that never copies: it shares the tensor's storage and fails where reshape would have to "
        "copy",
        "view of a contiguous tensor shares its storage; view of a transposed one raises, reshape of it returns a copy",
        f"shares storage: {shares}; view of the transpose raises: {view_fails}; reshape copies: {copies}",
        shares and view_fails and copies,
    )

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.a(z) * 2

    m = Two()
    z = torch.randn(2, 3)
    r.claim(
        "subclassing nn.Module: calling the module runs forward, and layers assigned in __init__ are registered as "
        "parameters",
        "module(x) equals module.forward(x), and parameters() lists the inner layer's weight and bias",
        f"equal: {torch.equal(m(z), m.forward(z))}; {len(list(m.parameters()))} parameters registered",
        torch.equal(m(z), m.forward(z)) and len(list(m.parameters())) == 2,
    )

    s = torch.randn(4, 1, 3, 1)
    r.claim(
        "squeeze removes the dimensions of size 1; unsqueeze inserts one",
        "shape (4, 1, 3, 1) → squeeze (4, 3); unsqueeze(0) of that → (1, 4, 3)",
        f"{tuple(s.squeeze().shape)}, {tuple(s.squeeze().unsqueeze(0).shape)}",
        tuple(s.squeeze().shape) == (4, 3) and tuple(s.squeeze().unsqueeze(0).shape) == (1, 4, 3),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n_range = len(torch.range(-5.0, 5.0, 0.1))
    deprecated = any("deprecated" in str(w.message) for w in caught)
    n_arange = len(torch.arange(-5.0, 5.0, 0.1))
    r.claim(
        "torch.range includes its end point and is deprecated; torch.arange excludes the end",
        "torch.range(-5, 5, 0.1) has 101 values and warns that it is deprecated; torch.arange(-5, 5, 0.1) has 100",
        f"torch.range: {n_range} values, deprecation warning: {deprecated}; torch.arange: {n_arange} values",
        n_range == 101 and deprecated and n_arange == 100,
    )


def _mode_checks(r: Report, seed: int) -> None:
    """train()/eval(), DataLoader shuffling, and what shuffling does to training."""
    torch.manual_seed(seed)
    drop = nn.Dropout(0.5)
    x = torch.ones(1000)
    train_differs = not torch.equal(drop(x), drop(x))
    drop.eval()
    eval_same = torch.equal(drop(x), x)
    bn = nn.BatchNorm1d(4)
    bn.running_mean.fill_(3.0)
    bn.eval()
    batch = torch.randn(16, 4)
    uses_running = torch.allclose(bn(batch), (batch - 3.0) / math.sqrt(1 + bn.eps), atol=1e-6)
    r.claim(
        "model.eval() turns dropout off and makes batch norm use its running statistics; train() turns both back",
        "in train mode two dropout passes differ; in eval mode dropout is the identity and batch norm normalizes with "
        "running_mean/running_var",
        f"train-mode passes differ: {train_differs}; eval dropout = identity: {eval_same}; eval BN uses running "
        f"stats: {uses_running}",
        train_differs and eval_same and uses_running,
    )

    data = torch.utils.data.TensorDataset(torch.arange(50))
    loader = torch.utils.data.DataLoader(
        data, batch_size=10, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    orders = [torch.cat([b[0] for b in loader]).tolist() for _ in range(3)]
    perms = all(sorted(o) == list(range(50)) for o in orders)
    r.claim(
        "DataLoader(shuffle=True) draws a new order every epoch, each epoch still seeing every example once",
        "three epochs' orders are three different permutations of the 50 examples",
        f"permutations: {perms}; distinct orders: {len({tuple(o) for o in orders})} of 3",
        perms and len({tuple(o) for o in orders}) == 3,
    )

    xtr, ytr, xte, yte = _digits(seed)
    order = torch.argsort(ytr, stable=True)  # class-sorted: batches of one class each
    accs = {}
    for name, idx_fn in [
        ("shuffled", lambda e: torch.randperm(len(ytr), generator=torch.Generator().manual_seed(seed + e))),
        ("sorted by class", lambda e: order),
    ]:
        torch.manual_seed(seed)
        model = nn.Linear(64, 10)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        for epoch in range(3):
            idx = idx_fn(epoch)
            for k in range(0, len(idx), 50):
                b = idx[k : k + 50]
                opt.zero_grad()
                F.cross_entropy(model(xtr[b]), ytr[b]).backward()
                opt.step()
        accs[name] = _f((model(xte).argmax(1) == yte).float().mean())
    r.claim(
        "shuffling every epoch matters: batches that each hold one class pull the model back and forth, and it ends "
        "worse",
        "softmax regression on digits, 3 epochs of SGD (lr 0.5, batch 50): test accuracy shuffled ≥ class-sorted + 0.1",
        f"shuffled {accs['shuffled']:.3f}, class-sorted {accs['sorted by class']:.3f}",
        accs["shuffled"] >= accs["sorted by class"] + 0.1,
    )

    torch.manual_seed(seed)
    model = nn.Linear(64, 10)
    var = {}
    for bs in (1, 16):
        gs = []
        for k in range(200):
            idx = torch.randint(0, len(ytr), (bs,), generator=torch.Generator().manual_seed(seed * 1000 + k))
            model.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            gs.append(model.weight.grad.flatten().clone())
        var[bs] = _f(torch.stack(gs).var(0).sum())
    ratio = var[1] / var[16]
    r.claim(
        "a minibatch gradient's variance falls as 1/batch size: batch-1 SGD is the noisiest, full-batch GD has none",
        "total variance of the weight gradient over 200 draws, batch 1 / batch 16, between 8 and 32 (1/B predicts 16)",
        f"variance batch 1: {var[1]:.4g}, batch 16: {var[16]:.4g}, ratio {ratio:.1f}",
        8 <= ratio <= 32,
    )

    curves = {}
    for name, scale in [("0.01·randn", 0.01), ("Xavier", None)]:
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i in range(6):
            layer = nn.Linear(64 if i == 0 else 64, 64 if i < 5 else 10)
            if scale is None:
                nn.init.xavier_normal_(layer.weight)
            else:
                nn.init.normal_(layer.weight, std=scale)
            nn.init.zeros_(layer.bias)
            layers += [layer, nn.Tanh()] if i < 5 else [layer]
        net = nn.Sequential(*layers)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        losses = []
        for k in range(100):
            idx = torch.randint(0, len(ytr), (50,), generator=torch.Generator().manual_seed(seed + k))
            opt.zero_grad()
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            losses.append(_f(loss))
        curves[name] = (sum(losses[:10]) / 10, sum(losses[-10:]) / 10)
    small, good = curves["0.01·randn"], curves["Xavier"]
    r.claim(
        "a long flat start of the loss points to a bad initialization",
        "6-layer tanh MLP on digits, 100 SGD steps (lr 0.1): with W = 0.01·randn the loss stays within 2% of its "
        "start; with Xavier it falls ≥ 30%",
        f"0.01·randn: {small[0]:.3f} → {small[1]:.3f}; Xavier: {good[0]:.3f} → {good[1]:.3f} (means of the first and "
        "last 10 steps)",
        abs(small[1] / small[0] - 1) < 0.02 and good[1] <= 0.7 * good[0],
    )


def _activation_checks(r: Report) -> None:
    """Ranges, slopes, centring and formulas of the activations."""
    x = torch.linspace(-30, 30, 60001, dtype=torch.float64)
    sig, th, re = torch.sigmoid(x), torch.tanh(x), F.relu(x)
    r.claim(
        "sigmoid squashes into (0, 1) and tanh into (−1, 1); ReLU's output [0, ∞) has no upper bound",
        "on [−30, 30]: sigmoid within [0, 1], tanh within [−1, 1], ReLU reaches 30",
        f"sigmoid [{_f(sig.min()):.3g}, {_f(sig.max()):.6g}], tanh [{_f(th.min()):.6g}, {_f(th.max()):.6g}], ReLU max "
        f"{_f(re.max()):.0f}",
        _f(sig.min()) >= 0 and _f(sig.max()) <= 1 and _f(th.min()) >= -1 and _f(th.max()) <= 1 and _f(re.max()) == 30,
    )
    xs = x.clone().requires_grad_(True)
    ds = torch.autograd.grad(torch.sigmoid(xs).sum(), xs)[0]
    dt = torch.autograd.grad(torch.tanh(xs).sum(), xs)[0]
    dr = torch.autograd.grad(F.relu(xs).sum(), xs)[0]
    far = x.abs() >= 10
    r.claim(
        "the sigmoid's slope is at most 0.25 and nearly 0 for large inputs: it can vanish gradients but cannot make "
        "them explode",
        "max sigmoid′ = 0.25 (at 0) and sigmoid′ < 1e-4 for |x| ≥ 10",
        f"max {_f(ds.max()):.4f}, largest at |x| ≥ 10: {_f(ds[far].max()):.1e}",
        abs(_f(ds.max()) - 0.25) < 1e-9 and _f(ds[far].max()) < 1e-4,
    )
    r.claim(
        "tanh's slope is at most 1 and nearly 0 for large inputs: it vanishes gradients as sigmoid does",
        "max tanh′ = 1 (at 0) and tanh′ < 1e-6 for |x| ≥ 10",
        f"max {_f(dt.max()):.4f}, largest at |x| ≥ 10: {_f(dt[far].max()):.1e}",
        abs(_f(dt.max()) - 1) < 1e-9 and _f(dt[far].max()) < 1e-6,
    )
    r.claim(
        "ReLU's slope is exactly 1 for every positive input (it does not saturate) and 0 for every negative one",
        "relu′ = 1 on x > 0 and 0 on x < 0, on [−30, 30]",
        f"slopes on x > 0: {sorted(set(dr[x > 0].tolist()))}; on x < 0: {sorted(set(dr[x < 0].tolist()))}",
        set(dr[x > 0].tolist()) == {1.0} and set(dr[x < 0].tolist()) == {0.0},
    )
    z = torch.randn(200000, generator=torch.Generator().manual_seed(0))
    means = {
        n: _f(f(z).mean())
        for n, f in [("sigmoid", torch.sigmoid), ("relu", F.relu), ("elu", F.elu), ("tanh", torch.tanh)]
    }
    r.claim(
        "sigmoid and ReLU outputs are not zero-centred; ELU's mean is closer to 0 than ReLU's, tanh's is 0",
        "mean output on N(0, 1) inputs: sigmoid ≈ 0.5 and ReLU ≈ 0.4 (both > 0.3), |ELU's| < ReLU's, |tanh's| < 0.01",
        ", ".join(f"{k} {v:.3f}" for k, v in means.items()),
        means["sigmoid"] > 0.3
        and means["relu"] > 0.3
        and abs(means["elu"]) < means["relu"]
        and abs(means["tanh"]) < 0.01,
    )
    torch.manual_seed(0)
    w = torch.randn(5, 8, requires_grad=True)
    inp = torch.sigmoid(torch.randn(32, 8))  # all positive, as sigmoid outputs feeding the next layer
    up = torch.randn(32, 5)
    (inp @ w.T * up[:1].expand(32, 5)).sum().backward()  # one upstream gradient per unit, as for one example's error
    rows_same_sign = all(bool((row > 0).all() or (row < 0).all()) for row in w.grad)
    r.claim(
        "when a unit's inputs are all positive (sigmoid outputs), the gradients on its weights all share one sign: "
        "updates zig-zag",
        "for each of 5 units fed 8 sigmoid outputs, every entry of its weight-gradient row has the same sign",
        f"rows with one sign: {sum(bool((row > 0).all() or (row < 0).all()) for row in w.grad)} of 5",
        rows_same_sign,
    )
    neg = torch.tensor([-100.0, -1.0, 2.0])
    leaky = F.leaky_relu(neg)
    r.claim(
        "leaky ReLU is max(0.01·x, x) by default: it keeps a slope on negative inputs",
        "F.leaky_relu of (−100, −1, 2) is (−1, −0.01, 2)",
        f"{[round(v, 6) for v in leaky.tolist()]}",
        torch.allclose(leaky, torch.tensor([-1.0, -0.01, 2.0])),
    )
    pr = nn.PReLU()
    out = pr(torch.tensor([-2.0, 3.0]))
    out.sum().backward()
    r.claim(
        "PReLU learns its negative slope: a parameter (0.25 at init) that gets a gradient",
        "nn.PReLU has one parameter, 0.25 at init, with a nonzero gradient after a backward through a negative input",
        f"init {_f(pr.weight):.2f}, gradient {_f(pr.weight.grad):.2f}",
        abs(_f(pr.weight) - 0.25) < 1e-9 and _f(pr.weight.grad) != 0,
    )
    very = torch.tensor([-50.0])
    r.claim(
        "ELU saturates at −1 for very negative inputs; leaky ReLU does not saturate",
        "ELU(−50) within 1e-6 of −1; leaky_relu(−50) = −0.5",
        f"ELU(−50) = {_f(F.elu(very)):.6f}; leaky_relu(−50) = {_f(F.leaky_relu(very)):.2f}",
        abs(_f(F.elu(very)) + 1) < 1e-6 and abs(_f(F.leaky_relu(very)) + 0.5) < 1e-6,
    )
    xs2 = torch.linspace(-5, 5, 10001)
    w1, b1 = 2.0, 3.0
    on = xs2[F.relu(w1 * xs2 + b1) > 0]
    r.claim(
        "the bias moves the input at which a unit switches on: ReLU(w·x + b) starts at x = −b/w",
        "with w = 2, b = 3 the first positive output is at x = −1.5 (within the grid step 0.001)",
        f"first positive output at x = {_f(on.min()):.4f}",
        abs(_f(on.min()) + 1.5) <= 1.1e-3,
    )
    small = torch.randn(1 << 16)  # fits in cache: the cost of computing, not of moving memory, is timed
    runs: dict[str, list[float]] = {"relu": [], "sigmoid": [], "tanh": []}
    fns = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    for _ in range(40):  # interleaved, best of 40: a busy neighbour slows every function alike
        for name, f in fns.items():
            t0 = time.perf_counter()
            f(small)
            runs[name].append(time.perf_counter() - t0)
    times = {k: min(v) for k, v in runs.items()}
    r.claim(
        "ReLU is cheaper to compute than sigmoid and tanh (no exponential)",
        "best of 40 interleaved passes on 65,536 values (in cache): ReLU ≤ 0.8× sigmoid's and tanh's",
        ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in times.items()),
        times["relu"] <= 0.8 * min(times["sigmoid"], times["tanh"]),
        why="timings on a shared, busy machine are noisy; on large arrays all three are limited by memory traffic, "
        "not by exp",
    )


def _loss_checks(r: Report) -> None:
    """Softmax, cross-entropy with one-hot targets, MSE/MAE/RMSE, BCE and the sigmoid."""
    torch.manual_seed(0)
    logits, target = torch.randn(6, 5, dtype=torch.float64), torch.tensor([1, 0, 3, 4, 2, 1])
    p = torch.softmax(logits, 1)
    r.claim(
        "softmax turns scores into a probability distribution: every output positive, each row summing to 1",
        "softmax of 6 random score vectors: min > 0 and every row sum within 1e-12 of 1",
        f"min {_f(p.min()):.3g}, largest |row sum − 1| {_f((p.sum(1) - 1).abs().max()):.1e}",
        _f(p.min()) > 0 and _f((p.sum(1) - 1).abs().max()) < 1e-12,
    )
    onehot = F.one_hot(target, 5).double()
    full = -(onehot * torch.log(p)).sum(1)
    only_true = -torch.log(p[torch.arange(6), target])
    ce = F.cross_entropy(logits, target, reduction="none")
    err = _f(torch.maximum((full - only_true).abs(), (ce - only_true).abs()).max())
    r.claim(
        "with one-hot targets cross-entropy is −log of the probability given to the true class: only that term "
        "survives",
        "−Σ_k y_k log p_k, −log p_true and F.cross_entropy agree within 1e-12",
        f"largest difference {err:.1e}",
        err < 1e-12,
    )
    pred, tgt = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    mse, mae = _f(F.mse_loss(pred, tgt)), _f(F.l1_loss(pred, tgt))
    d = pred - tgt
    err2 = max(abs(mse - _f((d**2).mean())), abs(mae - _f(d.abs().mean())))
    r.claim(
        "MSE is the mean of the squared differences; MAE the mean of the absolute ones; RMSE the square root of MSE",
        "nn.MSELoss and nn.L1Loss equal the formulas within 1e-12",
        f"largest difference {err2:.1e}; RMSE {math.sqrt(mse):.4f}",
        err2 < 1e-12,
    )
    z, yb = (
        torch.tensor([-3.0, -0.5, 0.2, 4.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64),
    )
    err3 = abs(_f(F.binary_cross_entropy(torch.sigmoid(z), yb)) - _f(F.binary_cross_entropy_with_logits(z, yb)))
    r.claim(
        "binary cross-entropy pairs with a sigmoid output: BCE(sigmoid(z), y) is BCE-with-logits(z, y)",
        "equal within 1e-12 on moderate logits (for extreme ones see the `losses` lesson)",
        f"difference {err3:.1e}",
        err3 < 1e-12,
    )


def _norm_checks(r: Report, seed: int) -> None:
    """Batch, layer and instance norm against their formulas; standardization; L2 versus weight decay."""
    torch.manual_seed(seed)
    bn = nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 3.0]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 1.0, 0.5]))
    x = torch.randn(32, 4) * 3 + 2
    mu, var = x.mean(0), x.var(0, unbiased=False)
    formula = (x - mu) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
    err = _f((bn(x) - formula).abs().max())
    r.claim(
        "batch norm in training subtracts the minibatch mean, divides by √(minibatch variance + ε), then scales by γ "
        "and shifts by β (learned)",
        "nn.BatchNorm1d in train mode equals the Ioffe & Szegedy formula (biased variance) within 1e-5; γ and β are "
        "parameters",
        f"largest difference {err:.1e}; parameters: {[n for n, _ in bn.named_parameters()]}",
        err < 1e-5 and len(list(bn.parameters())) == 2,
    )
    with torch.no_grad():
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mu)
    undo = _f((bn(x) - x).abs().max())
    r.claim(
        "batch norm's γ and β can undo the normalization, so the layer can keep what the next activation needs",
        "with γ = √(var + ε) and β = mean the layer returns its input within 1e-4",
        f"largest difference {undo:.1e}",
        undo < 1e-4,
    )
    ln = nn.LayerNorm(8)
    a, b = torch.randn(16, 8), torch.randn(16, 8)
    b[0] = a[0]
    ln_diff = _f((ln(a)[0] - ln(b)[0]).abs().max())
    bn8 = nn.BatchNorm1d(8)
    bn_diff = _f((bn8(a)[0] - bn8(b)[0]).abs().max())
    r.claim(
        "layer norm normalizes each example over its own features: its output does not depend on the batch (batch "
        "norm's does)",
        "the same example in two different batches of 16: layer-norm outputs equal (< 1e-6), batch-norm outputs in "
        "train mode differ (> 1e-3)",
        f"layer norm {ln_diff:.1e}, batch norm {bn_diff:.3f}",
        ln_diff < 1e-6 and bn_diff > 1e-3,
    )
    inorm = nn.InstanceNorm2d(3)
    img = torch.randn(2, 3, 5, 5) * 4 + 1
    out = inorm(img)
    m_err, s_err = _f(out.mean((2, 3)).abs().max()), _f((out.var((2, 3), unbiased=False) - 1).abs().max())
    r.claim(
        "instance norm normalizes every channel of every example on its own",
        "after nn.InstanceNorm2d each (example, channel) plane has mean 0 and variance 1 within 1e-3",
        f"largest |mean| {m_err:.1e}, largest |variance − 1| {s_err:.1e}",
        m_err < 1e-3 and s_err < 1e-3,
    )
    feats = torch.randn(500, 6) * torch.tensor([1.0, 10, 0.1, 5, 3, 100]) + 7
    st = (feats - feats.mean(0)) / feats.std(0)
    r.claim(
        "standardization gives every feature mean 0 and standard deviation 1",
        "(x − mean)/std per feature: every mean within 1e-5 of 0 and every std within 1e-5 of 1",
        f"largest |mean| {_f(st.mean(0).abs().max()):.1e}, largest |std − 1| {_f((st.std(0) - 1).abs().max()):.1e}",
        _f(st.mean(0).abs().max()) < 1e-5 and _f((st.std(0) - 1).abs().max()) < 1e-5,
    )

    def one_step(kind: str) -> torch.Tensor:
        torch.manual_seed(seed)
        m = nn.Linear(4, 1).double()
        xx, yy = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        lam = 0.1
        if kind.startswith("sgd"):
            opt: torch.optim.Optimizer = torch.optim.SGD(
                m.parameters(), lr=0.1, weight_decay=lam if kind == "sgd-wd" else 0
            )
        elif kind.startswith("adam-"):
            opt = torch.optim.Adam(m.parameters(), lr=0.1, weight_decay=lam if kind == "adam-wd" else 0)
        else:
            opt = torch.optim.AdamW(m.parameters(), lr=0.1, weight_decay=lam)
        for _ in range(3):
            opt.zero_grad()
            loss = F.mse_loss(m(xx), yy)
            if kind.endswith("-l2"):
                loss = loss + lam / 2 * sum((p**2).sum() for p in m.parameters())
            loss.backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in m.parameters()])

    sgd_gap = _f((one_step("sgd-wd") - one_step("sgd-l2")).abs().max())
    adam_gap = _f((one_step("adamw") - one_step("adam-l2")).abs().max())
    adam_same = _f((one_step("adam-wd") - one_step("adam-l2")).abs().max())
    r.claim(
        "L2 regularization is weight decay for plain SGD; with Adam it is not (AdamW's decoupled decay differs from "
        "an L2 penalty)",
        "3 steps: SGD(weight_decay) equals SGD on loss + λ/2‖w‖² within 1e-12; AdamW differs from Adam on the "
        "penalized loss by > 1e-4",
        f"SGD gap {sgd_gap:.1e}; AdamW vs Adam+L2 {adam_gap:.1e} (Adam's own weight_decay is the L2 penalty: gap "
        f"{adam_same:.1e})",
        sgd_gap < 1e-12 and adam_gap > 1e-4,
    )
    w_true = torch.tensor([[2.0], [-1.0], [0.5]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    xx = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    yy = xx @ w_true + 0.3 + 0.1 * torch.randn(200, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(3, 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2000):
        opt.zero_grad()
        F.mse_loss(model(xx), yy).backward()
        opt.step()
    design = torch.cat([xx, torch.ones(200, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(design, yy).solution.flatten()
    got = torch.cat([model.weight.detach().flatten(), model.bias.detach()])
    gap = _f((got - sol).abs().max())
    r.claim(
        "a linear network is linear regression: gradient descent on MSE finds the least-squares slope and intercept",
        "after 2,000 GD steps (lr 0.1) the weights and bias equal the least-squares solution within 1e-6",
        f"largest difference {gap:.1e}; least squares {[round(v, 3) for v in sol.tolist()]}",
        gap < 1e-6,
    )


def _shape_checks(r: Report) -> None:
    """Flattening, convolution output sizes, pooling."""
    img = torch.zeros(1, 3, 32, 32)
    n = img.flatten(1).shape[1]
    r.claim(
        "flattening a 32×32×3 image for a fully connected layer gives 32·32·3 = 3,072 values",
        "flatten of a (3, 32, 32) tensor has 3,072 entries",
        f"{n} entries",
        n == 3072,
    )
    sizes = []
    ok = True
    for n_in, f, s, p in [(32, 5, 1, 0), (32, 5, 1, 2), (7, 3, 2, 0), (32, 3, 2, 1)]:
        out = nn.Conv2d(1, 1, f, stride=s, padding=p)(torch.zeros(1, 1, n_in, n_in)).shape[-1]
        want = (n_in - f + 2 * p) // s + 1
        ok = ok and out == want
        sizes.append(f"N={n_in} F={f} S={s} P={p}: {out} (formula {want})")
    r.claim(
        "a convolution's output side is (N − F + 2P)/S + 1: stride shrinks it, zero padding of (F − 1)/2 at stride 1 "
        "keeps it",
        "nn.Conv2d output sizes equal the formula for four settings, and 5×5 with padding 2 keeps 32",
        "; ".join(sizes),
        ok and "P=2: 32" in sizes[1],
    )
    pool = nn.MaxPool2d(2)
    out = pool(torch.zeros(1, 1, 32, 32)).shape[-1]
    r.claim(
        "2×2 max pooling with stride 2 halves height and width, and pooling pads nothing by default",
        "nn.MaxPool2d(2) maps 32×32 to 16×16 and its padding is 0",
        f"{out}×{out}, padding {pool.padding}",
        out == 16 and pool.padding == 0,
    )


@LESSONS.register(
    "definitions",
    "the notes' definitions computed with torch: default init, zero_grad, view, eval(), norms, L2 vs weight decay, "
    "shapes",
)
def lesson(ctx: LessonContext) -> Report:
    """Run the definitions lesson."""
    r = Report("definitions", "the definitions of the notes, computed with torch")
    r.text(
        "Each claim below is a definition or a fact about PyTorch that the study notes state; it is computed with "
        "torch "
        f"{torch.__version__} and compared with the formula. Where the notes say something else (the default init, "
        "the size of a "
        "flattened image, zero_grad setting zeros, a sigmoid that explodes gradients), the claim states what PyTorch "
        "does and "
        "`trainlab notes` puts the two side by side."
    )
    r.heading("Initialization")
    _init_checks(r)
    r.heading("Autograd, optimizer steps, tensors")
    _autograd_checks(r)
    r.heading("Modes, shuffling, minibatch noise, plateaus")
    _mode_checks(r, ctx.seed)
    r.heading("Activations")
    _activation_checks(r)
    r.heading("Losses")
    _loss_checks(r)
    r.heading("Normalization and regularization")
    _norm_checks(r, ctx.seed)
    r.heading("Shapes")
    _shape_checks(r)
    fig, axes = new_figure(1, 1, (4.5, 3.0))
    xs = torch.linspace(-6, 6, 241)
    for name, f in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", F.relu), ("elu", F.elu)]:
        z = xs.clone().requires_grad_(True)
        g = torch.autograd.grad(f(z).sum(), z)[0]
        axes[0][0].plot(xs.tolist(), g.tolist(), label=f"{name}′")
    axes[0][0].set_xlabel("input")
    axes[0][0].set_ylabel("slope")
    axes[0][0].legend(fontsize=7)
    r.figure(
        fig,
        "slopes",
        "The slopes of four activations: sigmoid's peaks at 0.25, tanh's at 1, ReLU's is 1 for every positive input.",
    )
    return r
