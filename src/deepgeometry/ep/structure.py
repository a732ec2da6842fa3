"""Structure search by an energy with a complexity term (paper eq. 31), by REINFORCE and by an exhaustive
grid.

The energy of a CNN structure ``theta = (depth, width, kernel)`` is

    F(theta) = E_CNN(theta) + lambda * E_comp(theta),     E_CNN = validation error of the trained net,
                                                         E_comp = MACs(theta) / MACs_max

(eq. 31): the state ``s*`` (the weights) is found by ordinary gradient training for a fixed structure; the
discrete structure is chosen by REINFORCE (Williams 1992), as the paper proposes: a factorised
categorical policy
over the choices, reward ``-F``, a running-mean baseline. An exhaustive grid trains every structure once; both
read the same trained results (trainings are cached per structure and seed), so REINFORCE's cost is the number
of *distinct* structures it trained, compared against the grid's size. The accuracy-vs-MACs Pareto front
is the
set of structures no other structure beats on both; for each lambda the chosen structure is the "shortest
curve
that still reaches the target".
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DeepGeometryError

Structure = tuple[int, int, int]  # (depth, width, kernel)


@dataclass(frozen=True)
class StructureSpace:
    """The discrete choices: number of conv layers, channels per layer, kernel size (odd)."""

    depths: tuple[int, ...] = (1, 2, 3)
    widths: tuple[int, ...] = (4, 8, 16)
    kernels: tuple[int, ...] = (3, 5)

    def __post_init__(self) -> None:
        for name, vals in (("depths", self.depths), ("widths", self.widths), ("kernels", self.kernels)):
            if not vals or any(int(v) < 1 for v in vals):
                raise DeepGeometryError(
                    f"structure space: {name} must be non-empty positive integers, got {vals}"
                )
        if any(k % 2 == 0 for k in self.kernels):
            raise DeepGeometryError(f"structure space: kernels must be odd, got {self.kernels}")

    @property
    def choices(self) -> tuple[tuple[int, ...], ...]:
        return (self.depths, self.widths, self.kernels)

    def all(self) -> list[Structure]:
        return [tuple(s) for s in itertools.product(*self.choices)]  # type: ignore[misc]

    def __len__(self) -> int:
        return math.prod(len(c) for c in self.choices)


def small_cnn(structure: Structure, in_shape: Sequence[int], n_classes: int) -> nn.Sequential:
    """``depth`` x (conv ``kernel`` x ``kernel``, ``width`` channels, 'same' padding, ReLU), 2x2 max pooling,
    a linear classifier on the flattened features."""
    depth, width, kernel = structure
    c = int(in_shape[0])
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, kernel, padding=kernel // 2), nn.ReLU()]
        c = width
    h, w = int(in_shape[1]) // 2, int(in_shape[2]) // 2
    layers += [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c * h * w, n_classes)]
    return nn.Sequential(*layers)


def cnn_macs(structure: Structure, in_shape: Sequence[int], n_classes: int) -> int:
    """Multiply-accumulates of one forward pass of :func:`small_cnn` (the paper's ``N_k K S`` scaling)."""
    depth, width, kernel = structure
    c, h, w = (int(v) for v in in_shape)
    macs = 0
    for _ in range(depth):
        macs += h * w * c * width * kernel * kernel
        c = width
    return macs + c * (h // 2) * (w // 2) * n_classes


def train_structure(item: dict) -> dict:
    """Train one structure (module-level, picklable: for ``ctx.map``). ``item`` holds ``structure``, ``data``
    (a dataset name for :func:`deepgeometry.data.load`), ``epochs``, ``seed``, ``n_val``, ``lr``."""
    from ..data import load
    from ..nets.train import accuracy, train_classifier

    torch.set_num_threads(1)
    structure = tuple(int(v) for v in item["structure"])
    ds = load(item.get("data", "digits"))
    n_val = int(item.get("n_val", 300))
    if not 0 < n_val < len(ds.x_train):
        raise DeepGeometryError(f"n_val={n_val} must lie in (0, {len(ds.x_train)})")
    x_tr, y_tr = ds.x_train[n_val:], ds.y_train[n_val:]
    x_va, y_va = ds.x_train[:n_val], ds.y_train[:n_val]
    torch.manual_seed(int(item.get("seed", 0)))
    model = small_cnn(structure, ds.input_shape, ds.n_classes)
    t0 = time.perf_counter()
    res = train_classifier(
        model,
        x_tr,
        y_tr,
        epochs=int(item.get("epochs", 8)),
        lr=float(item.get("lr", 3e-3)),
        batch_size=int(item.get("batch_size", 64)),
        seed=int(item.get("seed", 0)),
    )
    val_acc = float("nan") if res.diverged else accuracy(model, x_va, y_va)
    test_acc = float("nan") if res.diverged else accuracy(model, ds.x_test, ds.y_test)
    return {
        "structure": list(structure),
        "macs": cnn_macs(structure, ds.input_shape, ds.n_classes),
        "val_acc": val_acc,
        "test_acc": test_acc,
        "diverged": res.diverged,
        "seconds": time.perf_counter() - t0,
    }


def structure_energy(result: dict, lam: float, macs_max: float) -> float:
    """Eq. (31): validation error + ``lam`` * MACs / MACs_max (a diverged training costs 1 + lam)."""
    err = 1.0 - result["val_acc"] if math.isfinite(result["val_acc"]) else 1.0
    return err + lam * result["macs"] / macs_max


def pareto_front(results: Sequence[dict], acc_key: str = "val_acc") -> list[dict]:
    """Structures not dominated in (higher accuracy, fewer MACs), sorted by MACs."""
    front = []
    for r in results:
        dominated = any(
            o["macs"] <= r["macs"]
            and o[acc_key] >= r[acc_key]
            and (o["macs"] < r["macs"] or o[acc_key] > r[acc_key])
            for o in results
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r["macs"])


def cheapest_reaching(results: Sequence[dict], target: float, acc_key: str = "val_acc") -> dict | None:
    """The fewest-MACs structure whose accuracy reaches ``target`` (None if none does)."""
    ok = [r for r in results if r[acc_key] >= target]
    return min(ok, key=lambda r: (r["macs"], -r[acc_key])) if ok else None


@dataclass
class ReinforceResult:
    chosen: Structure
    probabilities: list[list[float]]
    distinct_evaluations: int
    samples: int
    history: list[dict]


def reinforce_search(
    space: StructureSpace,
    evaluate: Callable[[Structure], dict],
    lam: float,
    macs_max: float,
    *,
    budget: int | None = None,
    samples_per_step: int = 4,
    max_steps: int = 500,
    lr: float = 0.5,
    reward_scale: float = 50.0,
    converged: float = 0.95,
    seed: int = 0,
) -> ReinforceResult:
    """REINFORCE over the factorised categorical policy on ``space``; reward ``-F`` (eq. 31).

    At most ``budget`` distinct structures are trained (default: the grid's size; samples of untrained
    structures beyond it are dropped); stops when every factor's most likely choice has probability above
    ``converged`` or after ``max_steps`` policy updates; returns the policy's mode.
    """
    if samples_per_step < 1 or max_steps < 1 or lr <= 0:
        raise DeepGeometryError(
            f"bad REINFORCE settings: samples_per_step={samples_per_step}, max_steps={max_steps}, lr={lr}"
        )
    budget = len(space) if budget is None else int(budget)
    g = torch.Generator().manual_seed(int(seed))
    logits = [torch.zeros(len(c), dtype=torch.float64) for c in space.choices]
    cache: dict[Structure, dict] = {}
    baseline = None
    history = []
    n_samples = 0
    for step in range(max_steps):
        probs = [torch.softmax(lg, 0) for lg in logits]
        picks = [[int(torch.multinomial(p, 1, generator=g)) for p in probs] for _ in range(samples_per_step)]
        rewards, kept = [], []
        for pick in picks:
            s: Structure = tuple(c[i] for c, i in zip(space.choices, pick, strict=False))  # type: ignore[assignment]
            if s not in cache:
                if len(cache) >= budget:  # out of trainings: this sample cannot be scored
                    continue
                cache[s] = evaluate(s)
            rewards.append(-reward_scale * structure_energy(cache[s], lam, macs_max))
            kept.append(pick)
            n_samples += 1
        if not kept:
            continue
        picks = kept
        mean_r = sum(rewards) / len(rewards)
        baseline = mean_r if baseline is None else 0.8 * baseline + 0.2 * mean_r
        for pick, r in zip(picks, rewards, strict=False):
            adv = r - baseline
            for lg, p, i in zip(logits, probs, pick, strict=False):
                grad = -p.clone()
                grad[i] += 1.0  # d log softmax_i / d logits
                lg += lr * adv * grad / len(picks)
        mode = tuple(c[int(torch.argmax(lg))] for c, lg in zip(space.choices, logits, strict=False))
        history.append({"step": step + 1, "mean_reward": mean_r, "distinct": len(cache), "mode": list(mode)})
        if all(float(torch.softmax(lg, 0).max()) > converged for lg in logits):
            break
    chosen: Structure = tuple(c[int(torch.argmax(lg))] for c, lg in zip(space.choices, logits, strict=False))  # type: ignore
    return ReinforceResult(
        chosen, [torch.softmax(lg, 0).tolist() for lg in logits], len(cache), n_samples, history
    )


def structure_search(
    space: StructureSpace,
    results: Sequence[dict],
    lambdas: Sequence[float],
    *,
    target: float = 0.95,
    seed: int = 0,
    **reinforce_options: object,
) -> dict:
    """Grid optimum and REINFORCE choice for each lambda, over the trained ``results`` of the whole grid.

    ``results`` are :func:`train_structure` outputs for every structure of ``space`` (the exhaustive grid);
    REINFORCE reads them through a cache and is charged for each distinct structure it asks for.
    """
    by_s = {tuple(r["structure"]): r for r in results}
    missing = [s for s in space.all() if s not in by_s]
    if missing:
        raise DeepGeometryError(
            f"structure_search: no trained result for {missing[:3]} (and {len(missing)} total)"
        )
    macs_max = float(max(r["macs"] for r in results))
    rows = []
    for lam in lambdas:
        grid_best = min(results, key=lambda r: structure_energy(r, lam, macs_max))
        rf = reinforce_search(space, lambda s: by_s[s], lam, macs_max, seed=seed, **reinforce_options)
        rf_res = by_s[rf.chosen]
        e_grid = structure_energy(grid_best, lam, macs_max)
        e_rf = structure_energy(rf_res, lam, macs_max)
        rows.append(
            {
                "lambda": float(lam),
                "grid_structure": list(grid_best["structure"]),
                "grid_energy": e_grid,
                "grid_val_acc": grid_best["val_acc"],
                "grid_test_acc": grid_best["test_acc"],
                "grid_macs": grid_best["macs"],
                "reinforce_structure": list(rf.chosen),
                "reinforce_energy": e_rf,
                "reinforce_val_acc": rf_res["val_acc"],
                "reinforce_test_acc": rf_res["test_acc"],
                "reinforce_macs": rf_res["macs"],
                "reinforce_distinct_trainings": rf.distinct_evaluations,
                "reinforce_samples": rf.samples,
                "energy_gap": e_rf - e_grid,
                "same_choice": list(rf.chosen) == list(grid_best["structure"]),
            }
        )
    cheapest = cheapest_reaching(results, target)
    return {
        "rows": rows,
        "pareto": pareto_front(results),
        "grid_size": len(space),
        "macs_max": macs_max,
        "target": target,
        "cheapest_reaching_target": cheapest,
    }
