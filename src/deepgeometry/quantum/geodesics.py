"""Nielsen complexity: minimal geodesics of the penalty metric from I to a target (paper eq. 1, Fig. 1).

The boundary-value problem is solved by shooting on the initial momentum ``m0`` (Pauli coordinates):
the geodesic ODE is the shared :func:`deepgeometry.core.euler_arnold` integrator, and its exact
Jacobian ``d U(1) / d m0`` comes from running the *same* integrator on the tangent group ``TG``
(dual numbers: every group/algebra quantity carries its ``D`` directional derivatives, the matrix
exponential's derivative is the Daleckii-Krein formula). That is the discrete lifted Jacobi field, so
Newton / Levenberg-Marquardt converges quadratically to the discrete geodesic.

Multiple shooting. Where single-shooting LM stalls, :func:`connect_multiple` cuts ``[0, 1]`` into K
segments; the unknowns are the K segment momenta and the K - 1 interior group points, the equations
group and momentum continuity, and the block Jacobian is exact (the same tangent-group integration on
each segment, right invariance moving every segment to start at I). It is the automatic fallback of
:func:`connect` (started from the bi-invariant curve to the target) and of the continuation (started
from the previous q's geodesic, when even a small q step fails). It converges to *a* geodesic; which
one depends on the start, so the minimal one is still sought by continuation from q = 1.

Global phase. A target ``U`` is reached either exactly in SU(2^n) (``phase="su"``; ``det U`` must be 1)
or modulo the global phase (``phase="mod-phase"``, the default; the quotient PSU(2^n) = U(2^n)/U(1):
``d([U]) = min_k d(I, omega^k V)`` over the ``2^n`` SU representatives). Nielsen's oracles
(CNOT sqrt(3) pi/4, Toffoli sqrt(7) pi/8) are modulo phase: Toffoli has determinant -1.

Continuation. At q = 1 the metric is bi-invariant and the geodesics are ``exp(-iHt)`` with ``H`` a
logarithm of the target; the shortest few logarithms (branches) start the continuation in ``log q``;
each branch is followed with a secant predictor and an LM corrector, its step adapted to the number of
iterations. Along a branch ``dE/dq = int |Q h|^2 dt >= 0``, so every branch's length is nondecreasing
in q and so is the minimum over branches that is reported as the complexity. A branch can end at a
fold (its Jacobian turns singular and the corrector's steps shrink to nothing); continuation in q
cannot pass a fold, so that branch is reported as not converged beyond it and the answer there rests
on the other branches (measured for a Haar n = 4 target: the two shortest branches stall near
q = 20.3 and q = 2.77).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from ..core.geodesic import Geodesic, euler_arnold
from ..errors import DeepGeometryError
from . import pauli
from .metric import PauliGroup, PenaltyMetric

log = logging.getLogger(__name__)

PHASES = ("mod-phase", "su")


# ------------------------------------------------------------------------------------------ targets
def cnot(n_qubits: int = 2, control: int = 0, target: int = 1) -> torch.Tensor:
    """CNOT on ``(control, target)`` of an n-qubit register (qubit 0 = leftmost Kronecker factor)."""
    n = pauli.check_qubits(n_qubits)
    if n < 2 or not (0 <= control < n and 0 <= target < n) or control == target:
        raise DeepGeometryError(f"cnot needs 2 distinct qubits in 0..{n - 1}, got control={control}, "
                                f"target={target} on {n} qubits")
    return _controlled_x(n, (control,), target)


def toffoli(n_qubits: int = 3) -> torch.Tensor:
    """Toffoli (CCX) on qubits (0, 1 -> 2) of an n-qubit register, n >= 3."""
    n = pauli.check_qubits(n_qubits)
    if n < 3:
        raise DeepGeometryError(f"toffoli needs at least 3 qubits, got {n}")
    return _controlled_x(n, (0, 1), 2)


def _controlled_x(n: int, controls: tuple[int, ...], target: int) -> torch.Tensor:
    d = 2**n
    u = np.zeros((d, d), dtype=np.complex128)
    for i in range(d):
        bits = [(i >> (n - 1 - k)) & 1 for k in range(n)]
        j = i ^ (1 << (n - 1 - target)) if all(bits[c] for c in controls) else i
        u[j, i] = 1.0
    return torch.from_numpy(u)


def qft(k: int, n_qubits: int | None = None) -> torch.Tensor:
    """Quantum Fourier transform on the first ``k`` qubits (identity on the remaining ``n - k``)."""
    n = k if n_qubits is None else pauli.check_qubits(n_qubits)
    pauli.check_qubits(k)
    if k > n:
        raise DeepGeometryError(f"qft:{k} does not fit in {n} qubits")
    m = 2**k
    jj, kk = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    f = np.exp(2j * np.pi * jj * kk / m) / math.sqrt(m)
    return torch.from_numpy(np.kron(f, np.eye(2 ** (n - k), dtype=np.complex128)))


def haar(n_qubits: int, seed: int = 0) -> torch.Tensor:
    """A Haar-random unitary on n qubits (QR of a complex Gaussian with the phase fix; seeded)."""
    n = pauli.check_qubits(n_qubits)
    rng = np.random.default_rng(int(seed))
    z = (rng.standard_normal((2**n, 2**n)) + 1j * rng.standard_normal((2**n, 2**n))) / math.sqrt(2)
    qm, r = np.linalg.qr(z)
    d = np.diag(r)
    return torch.from_numpy(qm * (d / np.abs(d)))


def parse_target(spec: str, n_qubits: int) -> torch.Tensor:
    """``cnot | toffoli | qft:K | haar:SEED | FILE.npy`` -> a checked ``(2^n, 2^n)`` unitary."""
    n = pauli.check_qubits(n_qubits)
    s = str(spec).strip()
    low = s.lower()
    if low == "cnot":
        u = cnot(n)
    elif low == "toffoli":
        u = toffoli(n)
    elif low.startswith("qft:") or low.startswith("haar:"):
        head, _, arg = low.partition(":")
        try:
            val = int(arg)
        except ValueError:
            raise DeepGeometryError(f"target {spec!r}: expected an integer after '{head}:'") from None
        u = qft(val, n) if head == "qft" else haar(n, val)
    elif low.endswith(".npy"):
        path = Path(s)
        if not path.is_file():
            raise DeepGeometryError(f"target file {s!r} does not exist")
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DeepGeometryError(f"target file {s!r} is not a plain .npy array: {e}") from None
        u = torch.from_numpy(np.asarray(arr, dtype=np.complex128))
    else:
        raise DeepGeometryError(f"unknown target {spec!r}; use cnot, toffoli, qft:K, haar:SEED or FILE.npy")
    return check_unitary(u, n)


def check_unitary(u: torch.Tensor | np.ndarray, n_qubits: int | None = None,
                  tol: float = 1e-8) -> torch.Tensor:
    """Return ``u`` as complex128 after checking shape ``(2^n, 2^n)``, finiteness and unitarity."""
    u = torch.as_tensor(np.asarray(u) if not isinstance(u, torch.Tensor) else u).to(torch.complex128)
    n = pauli._n_from_matrix(u, "target")
    if u.ndim != 2:
        raise DeepGeometryError(f"target: expected one (2^n, 2^n) matrix, got shape {tuple(u.shape)}")
    if n_qubits is not None and n != n_qubits:
        raise DeepGeometryError(f"target is {u.shape[0]}x{u.shape[1]} but {n_qubits} qubits need "
                                f"{2**n_qubits}x{2**n_qubits}")
    if not torch.all(torch.isfinite(u.real) & torch.isfinite(u.imag)):
        raise DeepGeometryError("target contains NaN or infinity")
    err = float(torch.linalg.matrix_norm(u.conj().T @ u - torch.eye(u.shape[0], dtype=u.dtype), ord=2))
    if err > tol:
        raise DeepGeometryError(f"target is not unitary: ||U^dagger U - I|| = {err:.3g} > {tol:g}")
    return u


# ------------------------------------------------------------------------------ logarithms (q = 1)
def _schur(u: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    t, z = scipy.linalg.schur(u.resolve_conj().numpy(), output="complex")
    return np.angle(np.diag(t)), z


def _branch_angles(theta: np.ndarray, phase: str, count: int) -> list[np.ndarray]:
    """Lifts ``theta_j + 2 pi k_j`` of the eigen-angles, shortest first (H = -(lift - mean))."""
    d = theta.size
    out: list[tuple[float, np.ndarray]] = []
    if phase == "mod-phase":
        order = np.argsort(theta)
        for s in range(d):  # raise the s smallest angles by 2 pi: every arc of length < 2 pi
            lift = theta.copy()
            lift[order[:s]] += 2 * np.pi
            lift = lift - lift.mean()
            out.append((float(np.sum(lift**2)), lift))
    else:
        m = int(round(theta.sum() / (2 * np.pi)))
        base = theta.copy()
        order = np.argsort(base)
        if m > 0:
            base[order[::-1][:m]] -= 2 * np.pi
        elif m < 0:
            base[order[: -m]] += 2 * np.pi
        out.append((float(np.sum(base**2)), base))
        order = np.argsort(base)
        for i in range(min(d, 4)):  # move one eigenvalue up by 2 pi and another down
            for j in range(min(d, 4)):
                lift = base.copy()
                lift[order[i]] += 2 * np.pi
                lift[order[::-1][j]] -= 2 * np.pi
                if i == j and order[i] == order[::-1][j]:
                    continue
                out.append((float(np.sum(lift**2)), lift))
    out.sort(key=lambda t: t[0])
    uniq: list[np.ndarray] = []
    for _, lift in out:
        if all(np.abs(np.sort(lift) - np.sort(v)).max() > 1e-9 for v in uniq):
            uniq.append(lift)
        if len(uniq) >= count:
            break
    return uniq


def log_branches(u: torch.Tensor, phase: str = "mod-phase",
                 count: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``count`` shortest bi-invariant geodesics to ``u``: list of ``(h, V)`` with ``exp(-iH) = V``.

    ``V = u`` for ``phase="su"``; for ``"mod-phase"`` V is the SU representative of ``[u]`` that the
    branch reaches. Sorted by ``|h|`` (the q = 1 length).
    """
    if phase not in PHASES:
        raise DeepGeometryError(f"phase must be one of {PHASES}, got {phase!r}")
    u = check_unitary(u)
    if phase == "su":
        det = complex(torch.linalg.det(u))
        if abs(det - 1) > 1e-8:
            raise DeepGeometryError(f"phase='su' needs det U = 1, got det = {det:.6g}; use phase='mod-phase'")
    theta, z = _schur(u)
    res = []
    for lift in _branch_angles(theta, phase, count):
        hm = z @ np.diag(-lift) @ z.conj().T
        hm = 0.5 * (hm + hm.conj().T)
        hmt = torch.from_numpy(hm)
        h = pauli.coords(hmt)
        v = torch.from_numpy(z @ np.diag(np.exp(1j * lift)) @ z.conj().T)
        res.append((h, v))
    return res


def principal_hamiltonian(u: torch.Tensor, phase: str = "mod-phase") -> torch.Tensor:
    """Coordinates of the shortest traceless ``H`` with ``exp(-iH) = U`` (``"su"``) or ``~ U`` (mod phase)."""
    return log_branches(u, phase, 1)[0][0]


# -------------------------------------------------------------------- tangent group (exact Jacobian)
class _TangentPauliGroup:
    """The tangent group TG of SU(2^n): stacked ``(1 + K, ...)`` arrays, row 0 primal, rows 1.. tangents.

    Running :func:`euler_arnold` on it gives the endpoint and its derivative in K directions exactly
    (forward-mode differentiation of the discrete integrator; ``pair`` returns row-wise products, of
    which only row 0 is meaningful).
    """

    def __init__(self, group: PauliGroup):
        self.g = group
        self.d = group.size

    def _mat(self, y0: torch.Tensor) -> torch.Tensor:
        return self.g._F * y0[self.g._B]  # ad(x, y0) = x @ M(y0)

    def identity_like(self, xi: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(xi.shape[0], self.d, self.d, dtype=torch.complex128)
        out[0] = torch.eye(self.d, dtype=torch.complex128)
        return out

    def compose(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([(g[0] @ h[0])[None], g[1:] @ h[0] + g[0] @ h[1:]])

    def ad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        my, mx = self._mat(y[0]), self._mat(x[0])
        return torch.cat([(x[0] @ my)[None], x[1:] @ my - y[1:] @ mx])

    def ad_star(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return -self.ad(x, m)

    def pair(self, m: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return (m * xi).sum(dim=-1)

    def exp(self, xi: torch.Tensor) -> torch.Tensor:
        h = self.g.hamiltonian(xi)  # (1+K, d, d)
        lam, v = torch.linalg.eigh(h[0])
        vh = v.conj().T
        e = torch.exp(-1j * lam)
        u0 = (v * e) @ vh
        mu = 0.5 * (lam[:, None] + lam[None, :])
        dl = 0.5 * (lam[:, None] - lam[None, :])
        phi = torch.exp(-1j * mu) * torch.sinc(dl / math.pi)
        dt = vh @ (-1j * h[1:]) @ v
        return torch.cat([u0[None], v @ (phi * dt) @ vh])


class _JetMetric:
    """``sharp`` on stacked jets; the last row also carries the derivative with respect to q."""

    def __init__(self, metric: PenaltyMetric, with_q: bool):
        self.w = metric.weights
        self.dq = (~torch.from_numpy(metric.easy)).to(torch.float64) / metric.q**2 if with_q else None

    def sharp(self, m: torch.Tensor) -> torch.Tensor:
        out = m / self.w
        if self.dq is not None:
            out = torch.cat([out[:-1], (out[-1] - self.dq * m[0])[None]])
        return out


def _log_residual(e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``R`` with ``E = exp(-iR)`` (principal), through the Hermitian Cayley transform; returns
    ``(coords(R), Z, theta)`` with ``E = Z diag(exp(i theta)) Z^dagger``."""
    d = e.shape[-1]
    eye = torch.eye(d, dtype=e.dtype)
    k = 1j * torch.linalg.solve((eye + e).T, (eye - e).T).T  # i (I - E)(I + E)^-1, Hermitian
    _, z = torch.linalg.eigh(0.5 * (k + k.conj().T))
    theta = torch.angle(torch.einsum("ji,jk,ki->i", z.conj(), e, z))
    r = (z * (-theta)) @ z.conj().T
    return pauli.coords(r), z, theta


def _dlog(dE: torch.Tensor, z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Derivative of ``E -> R = i log E`` in the directions ``dE`` (Daleckii-Krein)."""
    mu = 0.5 * (theta[:, None] + theta[None, :])
    dl = 0.5 * (theta[:, None] - theta[None, :])
    psi = 1j * torch.exp(-1j * mu) / torch.sinc(dl / math.pi)
    zh = z.conj().T
    return pauli.coords(z @ (psi * (zh @ dE @ z)) @ zh)


def shoot_jacobian(metric: PenaltyMetric, m0: torch.Tensor, v: torch.Tensor, steps: int, with_q: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Endpoint ``U(1)``, log residual ``r(m0)`` (``U(1) V^dagger = exp(-iR)``), its exact Jacobian
    ``dr/dm0`` (D x D) and, with ``with_q``, ``dr/dq`` at fixed ``m0``."""
    group = metric.group
    tg = _TangentPauliGroup(group)
    rows = [m0[None], torch.eye(group.dim, dtype=torch.float64)]
    if with_q:
        rows.append(torch.zeros(1, group.dim, dtype=torch.float64))
    jet = torch.cat(rows)
    geo = euler_arnold(tg, _JetMetric(metric, with_q), jet, steps=steps, reconstruct=True)
    u = geo.trajectory[-1]  # (1+D[+1], d, d)
    e = u @ v.conj().T
    r, z, theta = _log_residual(e[0])
    jr = _dlog(e[1:], z, theta)
    if with_q:
        return u[0], r, jr[:-1].T, jr[-1]
    return u[0], r, jr.T, None


def endpoint_error(u1: torch.Tensor, v: torch.Tensor) -> float:
    """Spectral norm ``||U(1) - V||_2``: the residual reported everywhere."""
    return float(torch.linalg.matrix_norm(u1 - v, ord=2))


def default_steps(h0: torch.Tensor, metric: PenaltyMetric, per_radian: float = 3.0) -> int:
    """RK4 steps for this initial velocity: ``per_radian`` steps per unit of the fastest rotation rate
    ``2 (|m| + |h|)`` of ``dm/dt = [h, m]``, rounded up to a multiple of 8, at least 16."""
    m = metric.flat(h0)
    rate = 2.0 * float(torch.linalg.vector_norm(m)) + 2.0 * float(torch.linalg.vector_norm(h0))
    return int(min(8192, max(16, 8 * math.ceil(per_radian * rate / 8))))


# ---------------------------------------------------------------------------------- BVP solver
@dataclass
class Connection:
    """A solved (or failed) boundary-value problem ``I -> V`` at one metric.

    ``length`` is ``None`` unless ``converged``; ``residual`` is ``||U(1) - V||_2`` of the discrete
    geodesic and ``integration_error`` the endpoint change when the step count is doubled.
    ``multiple_shooting`` says the solution came from the multiple-shooting fallback, and
    ``stalled_residual`` is where single shooting had stalled before it.
    """

    q: float
    m0: torch.Tensor
    target: torch.Tensor
    steps: int
    residual: float
    converged: bool
    iterations: int
    length: float | None = None
    energy: float | None = None
    integration_error: float | None = None
    geodesic: Geodesic | None = None
    dm0_dq: torch.Tensor | None = None
    jacobian: torch.Tensor | None = None
    multiple_shooting: bool = False
    stalled_residual: float | None = None

    def to_dict(self) -> dict:
        return {"q": self.q, "length": self.length, "residual": self.residual, "converged": self.converged,
                "iterations": self.iterations, "steps": self.steps,
                "integration_error": self.integration_error, "multiple_shooting": self.multiple_shooting,
                "stalled_residual": self.stalled_residual}


def connect(metric: PenaltyMetric, target: torch.Tensor, m0: torch.Tensor, *, steps: int | None = None,
            tol: float = 1e-10, max_iter: int = 25, tangent: bool = False, finish: bool = True,
            segments: int = 4) -> Connection:
    """Solve ``U(1) = target`` (an SU(2^n) matrix) by Newton / Levenberg-Marquardt on the momentum.

    The residual is ``R`` with ``U(1) V^dagger = exp(-iR)`` (so ``|R|`` is the bi-invariant distance
    of the miss) and its Jacobian is exact (tangent-group integration + derivative of the logarithm).

    Parameters
    ----------
    metric
        A :class:`PenaltyMetric`.
    target
        The SU(2^n) representative to reach (see :func:`log_branches` for the phase choice).
    m0
        Initial guess for the momentum ``G(H(0))`` (e.g. ``metric.flat(h)`` of a logarithm).
    steps
        RK4 steps (default from :func:`default_steps`).
    tol
        Convergence threshold on ``||U(1) - V||_2``.
    tangent
        Also return ``dm0/dq`` along the solution branch (for continuation predictors).
    finish
        Integrate the converged geodesic with the plain group (length, energy, trajectory).
    segments
        When single shooting stalls (not converged after ``max_iter``), fall back to
        :func:`connect_multiple` on this many segments, started from the bi-invariant geodesic to the
        target (see :func:`multiple_shooting_guess`); ``1`` disables the fallback.
    Returns
    -------
    Connection
        With ``length = None`` unless converged: never a length without convergence.
    """
    if not torch.all(torch.isfinite(m0)):
        raise DeepGeometryError("connect: initial momentum contains NaN or infinity")
    m = m0.clone().to(torch.float64)
    n_steps = int(steps or default_steps(metric.sharp(m), metric))
    mu = 0.0
    u1, r, jac, rq = shoot_jacobian(metric, m, target, n_steps, tangent)
    err = endpoint_error(u1, target)
    it = 0
    while err >= tol and it < max_iter:
        it += 1
        jtj = jac.T @ jac
        if mu == 0.0:
            delta = torch.linalg.lstsq(jac, -r[:, None]).solution[:, 0]
        else:
            delta = torch.linalg.solve(jtj + mu * torch.eye(jtj.shape[0], dtype=jtj.dtype), -(jac.T @ r))
        m_new = m + delta
        if not torch.all(torch.isfinite(m_new)):
            mu = max(mu * 10.0, 1e-3 * float(torch.diagonal(jtj).mean()))
            continue
        try:
            u_new, r_new, j_new, rq_new = shoot_jacobian(metric, m_new, target, n_steps, tangent)
        except torch.linalg.LinAlgError:  # a wild trial step (eigh of a huge Hamiltonian): damp more
            mu = max(mu * 10.0, 1e-3 * float(torch.diagonal(jtj).mean()))
            continue
        err_new = endpoint_error(u_new, target)
        if float(torch.linalg.vector_norm(r_new)) < float(torch.linalg.vector_norm(r)) or err_new < 0.5 * err:
            m, u1, r, jac, rq, err = m_new, u_new, r_new, j_new, rq_new, err_new
            mu = mu / 10.0 if mu > 1e-12 * float(torch.diagonal(jtj).mean()) else 0.0
        else:
            mu = max(mu * 10.0, 1e-3 * float(torch.diagonal(jtj).mean()))
    if err >= tol and int(segments) > 1:
        guess = multiple_shooting_guess(metric, target, int(segments), n_steps)
        ms = connect_multiple(metric, target, guess, steps=n_steps, tol=tol, max_iter=max(max_iter, 30),
                              polish=False)
        if ms.converged:
            log.debug("single shooting stalled at %.2e; multiple shooting (K=%d) converged", err, segments)
            res = connect(metric, target, ms.m0, steps=ms.steps, tol=tol, max_iter=4, tangent=tangent,
                          finish=finish, segments=1)
            res.iterations += it + ms.iterations
            res.multiple_shooting = True
            res.stalled_residual = err
            return res
    res = Connection(q=metric.q, m0=m, target=target, steps=n_steps, residual=err, converged=err < tol,
                     iterations=it, jacobian=jac)
    if res.converged and tangent and rq is not None:
        res.dm0_dq = torch.linalg.solve(jac, -rq)
    if res.converged and finish:
        geo = euler_arnold(metric.group, metric, m, steps=n_steps)
        res.residual = endpoint_error(geo.endpoint, target)
        res.converged = res.residual < tol
        res.geodesic = geo
        if res.converged:
            res.length = float(geo.length)
            res.energy = float(geo.energy)
    return res


def refine(metric: PenaltyMetric, conn: Connection, *, int_tol: float = 1e-8, tol: float = 1e-10,
           max_steps: int = 8192) -> Connection:
    """Double the step count until the endpoint moves less than ``int_tol`` when doubling again.

    Each re-solve is a chord iteration (the coarse exact Jacobian, plain shots at the fine step count),
    falling back to :func:`connect`; sets ``integration_error`` on the returned connection.
    """
    cur = conn
    group = metric.group
    while True:
        fine = euler_arnold(group, metric, cur.m0, steps=2 * cur.steps, reconstruct=True)
        cur.integration_error = endpoint_error(fine.endpoint, cur.geodesic.endpoint)
        if cur.integration_error < int_tol or 2 * cur.steps > max_steps:
            return cur
        n2, m, geo = 2 * cur.steps, cur.m0.clone(), fine
        ok = False
        for _ in range(8):
            if endpoint_error(geo.endpoint, cur.target) < tol:
                ok = True
                break
            r = _log_residual(geo.endpoint @ cur.target.conj().T)[0]
            m = m - torch.linalg.solve(cur.jacobian, r)
            geo = euler_arnold(group, metric, m, steps=n2, reconstruct=True)
        if ok:
            nxt = Connection(q=metric.q, m0=m, target=cur.target, steps=n2,
                             residual=endpoint_error(geo.endpoint, cur.target), converged=True,
                             iterations=cur.iterations, length=float(geo.length), energy=float(geo.energy),
                             geodesic=geo, dm0_dq=cur.dm0_dq, jacobian=cur.jacobian)
        else:
            nxt = connect(metric, cur.target, cur.m0, steps=n2, tol=tol, max_iter=10, segments=1)
            if not nxt.converged:
                return cur
        cur = nxt


# -------------------------------------------------------------------------------- multiple shooting
def _segment_jet(metric: PenaltyMetric, m: torch.Tensor, steps: int, t1: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow of one segment of length ``t1`` from momentum ``m`` at the identity, with its exact
    derivatives: ``(phi, mom)``, ``phi`` ``(1 + D, d, d)`` (row 0 = phi(t1), rows 1.. = d phi / d m_a)
    and ``mom`` ``(1 + D, D)`` (row 0 = m(t1), rows 1.. = d m(t1) / d m_a)."""
    tg = _TangentPauliGroup(metric.group)
    jet = torch.cat([m[None], torch.eye(metric.group.dim, dtype=torch.float64)])
    geo = euler_arnold(tg, _JetMetric(metric, False), jet, steps=steps, t1=t1, reconstruct=True)
    return geo.trajectory[-1], geo.momenta[-1]


@dataclass
class ShootingNodes:
    """Unknowns of the multiple-shooting system: momenta ``m_k`` at ``t_k = k/K`` (K, D) and group
    points ``g_k`` (K + 1, d, d) with ``g_0 = I`` and ``g_K = V`` fixed."""

    m: torch.Tensor
    g: torch.Tensor


def _ms_system(metric: PenaltyMetric, st: ShootingNodes, sps: int, basis: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Residual ``F`` (group defects R_k, then momentum defects M_k), its exact Jacobian and the largest
    spectral-norm group defect ``max_k ||phi_k g_k - g_{k+1}||``.

    Unknowns are ordered ``m_0..m_{K-1}`` then ``delta_1..delta_{K-1}`` (``g_k <- exp(-i delta_k) g_k``).
    The group defect is ``R_k`` with ``phi_k g_k g_{k+1}^dagger = exp(-i R_k)``; the momentum defect is
    ``M_k = m(t_{k+1}^-) - m_{k+1}`` (the momentum equation does not involve g, so no g-derivative).
    """
    kseg, dim = st.m.shape
    nu = kseg * dim + (kseg - 1) * dim
    rows = (2 * kseg - 1) * dim
    jac = torch.zeros(rows, nu, dtype=torch.float64)
    f = torch.zeros(rows, dtype=torch.float64)
    worst = 0.0
    for k in range(kseg):
        phi, mom = _segment_jet(metric, st.m[k], sps, 1.0 / kseg)
        right = st.g[k] @ st.g[k + 1].conj().T
        e = phi[0] @ right
        r, z, theta = _log_residual(e)
        worst = max(worst, endpoint_error(phi[0] @ st.g[k], st.g[k + 1]))
        gi = slice(k * dim, (k + 1) * dim)
        f[gi] = r
        jac[gi, k * dim:(k + 1) * dim] = _dlog(phi[1:] @ right, z, theta).T
        if k >= 1:  # d/d delta_k: g_k -> exp(-i delta) g_k
            col = kseg * dim + (k - 1) * dim
            jac[gi, col:col + dim] = _dlog(phi[0] @ (-1j * basis) @ right, z, theta).T
        if k + 1 <= kseg - 1:  # d/d delta_{k+1}: g_{k+1}^dagger -> g_{k+1}^dagger exp(i delta)
            col = kseg * dim + k * dim
            jac[gi, col:col + dim] = _dlog(e @ (1j * basis), z, theta).T
            mi = slice(kseg * dim + k * dim, kseg * dim + (k + 1) * dim)
            f[mi] = mom[0] - st.m[k + 1]
            jac[mi, k * dim:(k + 1) * dim] = mom[1:].T
            jac[mi, (k + 1) * dim:(k + 2) * dim] = -torch.eye(dim, dtype=torch.float64)
    return f, jac, worst


def _ms_update(st: ShootingNodes, delta: torch.Tensor, group: PauliGroup) -> ShootingNodes:
    kseg, dim = st.m.shape
    m = st.m + delta[:kseg * dim].reshape(kseg, dim)
    g = st.g.clone()
    if kseg > 1:
        g[1:kseg] = group.exp(delta[kseg * dim:].reshape(kseg - 1, dim)) @ g[1:kseg]
    return ShootingNodes(m, g)


def multiple_shooting_guess(metric: PenaltyMetric, target: torch.Tensor, segments: int, steps: int, *,
                            m0: torch.Tensor | None = None, geodesic: Geodesic | None = None
                            ) -> ShootingNodes:
    """Initial unknowns for :func:`connect_multiple` on ``segments`` equal pieces of ``[0, 1]``.

    From ``geodesic`` (a curve from I to the target, e.g. the solution at a nearby q): its group points
    and momenta at ``t_k`` (the momentum, not the velocity, is what varies slowly with q). From
    ``m0``: the single shot of that momentum, with its endpoint miss ``g(1) V^dagger = exp(-iR)`` spread
    along the curve, ``g_k = exp(i t_k R) g(t_k)``, so that the group points run from I to V. From
    neither: the bi-invariant geodesic ``exp(-i t H)`` to V (H its shortest SU logarithm) with the
    momenta ``m_k = h`` (not ``G h``: at large q the hard momentum stays O(1) while the hard velocity
    is O(1/q), so this start moves mostly along easy directions).
    """
    sps = -(-steps // segments)
    kseg = int(segments)
    if isinstance(segments, bool) or int(segments) != segments or kseg < 1:
        raise DeepGeometryError(f"multiple shooting: segments must be a positive integer, got {segments!r}")
    if geodesic is None and m0 is None:
        h = principal_hamiltonian(target, phase="su")
        ts = torch.arange(kseg + 1, dtype=torch.float64) / kseg
        g = metric.group.exp(ts[:, None] * h)
        g[0] = torch.eye(g.shape[-1], dtype=g.dtype)
        g[-1] = target
        return ShootingNodes(h.expand(kseg, -1).clone(), g)
    if geodesic is None:
        geodesic = euler_arnold(metric.group, metric, m0, steps=kseg * sps)
    times = geodesic.times
    idx = [int(torch.argmin((times - k / kseg).abs())) for k in range(kseg + 1)]
    g = geodesic.trajectory[idx].clone()
    r = _log_residual(g[-1] @ target.conj().T)[0]  # the miss (0 for a curve that reaches V)
    for k in range(1, kseg):
        g[k] = metric.group.exp(-(k / kseg) * r) @ g[k]
    g[0] = torch.eye(g.shape[-1], dtype=g.dtype)
    g[-1] = target
    m = geodesic.momenta[idx[:-1]].clone()
    return ShootingNodes(m, g)


def connect_multiple(metric: PenaltyMetric, target: torch.Tensor, guess: ShootingNodes, *, steps: int,
                     tol: float = 1e-10, max_iter: int = 30, polish: bool = True) -> Connection:
    """Multiple shooting for ``U(1) = target``: ``[0, 1]`` cut into K equal segments.

    Unknowns: the momenta ``m_k`` at the K segment starts and the K - 1 interior group points ``g_k``;
    equations: ``phi_k(m_k) g_k = g_{k+1}`` (``g_0 = I``, ``g_K = V``) and momentum continuity
    ``m(t_{k+1}^-) = m_{k+1}``. Every segment is integrated from the identity (right invariance:
    the curve on segment k is ``phi_k(t) g_k``) by the tangent group, giving the exact block Jacobian;
    Levenberg-Marquardt on the whole system. Each segment only integrates over ``1/K``, so the
    sensitivity ``d phi / d m`` that makes single shooting stall at large q grows over ``1/K`` instead
    of 1, and the interior points let the iteration start from a whole curve rather than one momentum.

    With ``steps`` a multiple of K, the converged unknowns are a single-shooting solution of the same
    discrete integrator (RK4 + Magnus is a one-step method); ``polish`` re-solves from ``m_0`` with
    :func:`connect` (exact Jacobian, ``dm0/dq`` tangent, plain geodesic), which then needs 0-2
    iterations. Without ``polish`` the returned connection carries only ``m0`` and the residual.
    """
    kseg, dim = guess.m.shape
    sps = -(-int(steps) // kseg)
    basis = pauli.basis(metric.n_qubits)
    # momentum defects are weighed in the dual metric norm |M|_* = |M / sqrt(w)| (commensurate with the
    # group defects); LM with Marquardt's diagonal scaling and the gain-ratio damping update
    rw = torch.ones((2 * kseg - 1) * dim, dtype=torch.float64)
    rw[kseg * dim:] = (1.0 / metric.weights.sqrt()).repeat(kseg - 1)

    def system(state: ShootingNodes) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        f, jac, worst = _ms_system(metric, state, sps, basis)
        mom = float(f[kseg * dim:].abs().max()) if kseg > 1 else 0.0
        return rw * f, rw[:, None] * jac, worst, mom

    st = guess
    f, jac, worst, mom = system(st)
    mu, it = 1e-3, 0
    while (worst >= 0.1 * tol or mom >= 0.1 * tol) and it < max_iter:
        it += 1
        jtj = jac.T @ jac
        grad = jac.T @ f
        delta = torch.linalg.solve(jtj + mu * torch.diag(torch.diagonal(jtj)), -grad)
        if not torch.all(torch.isfinite(delta)):
            mu *= 10.0
            continue
        trial = _ms_update(st, delta, metric.group)
        try:
            f2, j2, w2, mom2 = system(trial)
        except torch.linalg.LinAlgError:
            mu *= 10.0
            continue
        fn2, fn = float(f2 @ f2), float(f @ f)
        pred = fn - float((f + jac @ delta) @ (f + jac @ delta))
        rho = (fn - fn2) / pred if pred > 0 else -1.0
        if rho > 1e-4:
            st, f, jac, worst, mom = trial, f2, j2, w2, mom2
            mu = mu * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        else:
            mu *= 4.0
            if mu > 1e12:
                break
    log.debug("multiple shooting K=%d: %d iterations, defect %.2e", kseg, it, worst)
    if not polish:
        return Connection(q=metric.q, m0=st.m[0], target=target, steps=kseg * sps, residual=worst,
                          converged=worst < tol and mom < tol, iterations=it)
    res = connect(metric, target, st.m[0], steps=kseg * sps, tol=tol, max_iter=4, segments=1)
    res.iterations += it
    return res


# ------------------------------------------------------------------------------------ continuation
@dataclass
class Complexity:
    """Continuation result: complexity (minimal length over followed branches) at each requested q."""

    n_qubits: int
    phase: str
    q_values: list[float]
    lengths: list[float | None]
    residuals: list[float | None]
    converged: list[bool]
    branch: list[int | None]
    q_path: list[list[float]] = field(default_factory=list)
    path_residuals: list[list[float]] = field(default_factory=list)
    branch_lengths: list[list[float | None]] = field(default_factory=list)
    connections: list[Connection | None] = field(default_factory=list)
    seconds: float = 0.0
    multiple_shooting_steps: int = 0

    @property
    def length(self) -> float | None:
        """Complexity at the last requested q (``None`` if not converged there)."""
        return self.lengths[-1]

    def to_dict(self) -> dict:
        return {"n_qubits": self.n_qubits, "phase": self.phase, "q": self.q_values, "length": self.lengths,
                "residual": self.residuals, "converged": self.converged, "branch": self.branch,
                "q_path": self.q_path, "path_residuals": self.path_residuals,
                "branch_lengths": self.branch_lengths,
                "integration_error": [None if c is None else c.integration_error for c in self.connections],
                "multiple_shooting_steps": self.multiple_shooting_steps, "seconds": self.seconds}


def _follow_branch(metric: PenaltyMetric, h: torch.Tensor, v: torch.Tensor, q_values: list[float], *,
                   tol: float, int_tol: float, max_dlogq: float, per_radian: float, deadline: float | None,
                   segments: int = 4, ms_below: float = 0.02
                   ) -> tuple[list[Connection | None], list[float], list[float], int]:
    """Follow one q = 1 geodesic through the requested q values: tangent predictor in ``log q``,
    Newton/LM corrector, step adapted to the corrector's effort; refined at each requested q.

    When the corrector fails although the step in ``log q`` is already below ``ms_below``, multiple
    shooting on ``segments`` pieces (started from the previous geodesic) is tried before halving again.
    Returns the connections, the q path, its residuals and the number of multiple-shooting rescues."""
    out: dict[float, Connection | None] = {}
    path: list[float] = []
    resid: list[float] = []
    met = metric.with_q(1.0)
    conn = connect(met, v, met.flat(h), steps=default_steps(h, met, per_radian), tol=tol, tangent=True)
    ms_steps = 0
    if not conn.converged:
        return [None] * len(q_values), path, resid, ms_steps
    q = 1.0
    path.append(q)
    resid.append(conn.residual)
    dlq = min(0.25, max_dlogq)
    for qt in sorted(set(q_values)):
        if qt > q:
            while q < qt:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                lq_next = min(math.log(qt), math.log(q) + dlq)
                if math.log(qt) - lq_next < 0.15 * dlq:
                    lq_next = math.log(qt)
                q_next = math.exp(lq_next) if lq_next < math.log(qt) else qt
                guess = conn.m0 + (q_next - q) * conn.dm0_dq if conn.dm0_dq is not None else conn.m0
                met = metric.with_q(q_next)
                steps = default_steps(met.sharp(guess), met, per_radian)
                c = connect(met, v, guess, steps=steps, tol=tol, max_iter=10, tangent=True, segments=1)
                if not c.converged and dlq < ms_below and segments > 1:
                    # single shooting stalls even for a small step: multiple shooting from the whole
                    # previous curve (it reaches V), polished into a single-shooting solution
                    g0 = multiple_shooting_guess(met, v, segments, steps, geodesic=conn.geodesic)
                    ms = connect_multiple(met, v, g0, steps=steps, tol=tol, max_iter=10, polish=False)
                    if ms.converged:
                        c = connect(met, v, ms.m0, steps=ms.steps, tol=tol, max_iter=4, tangent=True,
                                    segments=1)
                        c.multiple_shooting = True
                        ms_steps += int(c.converged)
                if c.converged and c.length is not None and c.length < conn.length * (1 - 1e-9):
                    c.converged = False  # a shorter geodesic at larger q: the corrector jumped branch
                log.debug("q %.6g -> %.6g: %s, residual %.1e, %d iterations, %d steps", q, q_next,
                          "accepted" if c.converged else "rejected", c.residual, c.iterations, c.steps)
                if c.converged:
                    q, conn = q_next, c
                    path.append(q)
                    resid.append(c.residual)
                    it_c = c.iterations
                    grow = 1.5 if it_c <= 3 else 1.25 if it_c <= 4 else 1.0 if it_c <= 6 else 0.7
                    dlq = min(max_dlogq, dlq * grow)
                else:
                    dlq *= 0.5
                    if dlq < 1e-3:
                        break
            if q < qt:
                break
        if qt == q:
            conn = refine(metric.with_q(q), conn, int_tol=int_tol, tol=tol)
            out[qt] = conn
    return [out.get(qv) for qv in q_values], path, resid, ms_steps


def complexity(target: torch.Tensor, n_qubits: int | None = None, q: float | list[float] = 1000.0, *,
               locality: int | None = 2, easy: list[str] | None = None, phase: str = "mod-phase",
               branches: int = 2, tol: float = 1e-10, int_tol: float = 1e-8, max_dlogq: float = 0.7,
               per_radian: float = 1.5, time_limit: float | None = None, segments: int = 4) -> Complexity:
    """Geodesic length from I to ``target`` under eq. (1), by continuation in q from q = 1.

    Parameters
    ----------
    target
        A ``(2^n, 2^n)`` unitary (checked).
    n_qubits
        Expected n (checked against the target's size) or None.
    q
        One penalty or an increasing list of them (all are reported; the path between is adaptive).
    locality, easy
        The easy set (see :class:`PenaltyMetric`).
    phase
        ``"mod-phase"`` (default) or ``"su"``; see the module docstring.
    branches
        How many of the shortest q = 1 geodesics to follow; the shortest converged one is reported.
    tol
        Endpoint residual ``||U(1) - V||_2`` required at every continuation step.
    int_tol
        At each requested q the step count is doubled until the endpoint moves less than this.
    per_radian
        RK4 steps per unit rotation rate along the path (:func:`default_steps`); 1.5 keeps RK4 well
        inside its stability region, and the accuracy at each requested q comes from ``int_tol``.
    time_limit
        Optional wall-clock budget in seconds (branches stop where they are; reported as not converged).
    segments
        Multiple-shooting segments for the fallback when single shooting stalls (1 disables it).

    Returns
    -------
    Complexity
        ``lengths[i]`` is ``None`` where no branch converged (its best residual is reported instead).
    """
    from .metric import check_q

    u = check_unitary(target, n_qubits)
    n = pauli._n_from_matrix(u)
    qs = [q] if not isinstance(q, (list, tuple)) else list(q)
    if not qs:
        raise DeepGeometryError("complexity: give at least one q")
    qs = [check_q(x) for x in qs]
    if any(b < a for a, b in zip(qs, qs[1:], strict=False)):
        raise DeepGeometryError(f"complexity: q values must be increasing, got {qs}")
    if any(x < 1.0 for x in qs):
        raise DeepGeometryError(f"complexity: continuation starts at q = 1; got q < 1 in {qs}")
    if isinstance(branches, bool) or int(branches) != branches or int(branches) < 1:
        raise DeepGeometryError(f"complexity: branches must be a positive integer, got {branches!r}")
    metric = PenaltyMetric(n, 1.0, locality, easy)
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    per_branch, paths, presid = [], [], []
    ms_total = 0
    for h, v in log_branches(u, phase, int(branches)):
        conns, path, res, n_ms = _follow_branch(metric, h, v, qs, tol=tol, int_tol=int_tol,
                                                max_dlogq=max_dlogq, per_radian=per_radian,
                                                deadline=deadline, segments=segments)
        ms_total += n_ms
        per_branch.append(conns)
        paths.append(path)
        presid.append(res)
    lengths, residuals, convs, which, best = [], [], [], [], []
    for i in range(len(qs)):
        cands = [(c.length, b, c) for b, conns in enumerate(per_branch) if (c := conns[i]) is not None
                 and c.converged and c.length is not None]
        if cands:
            length, b, c = min(cands, key=lambda t: t[0])
            lengths.append(length)
            residuals.append(c.residual)
            convs.append(True)
            which.append(b)
            best.append(c)
        else:
            lengths.append(None)
            tried = [c.residual for conns in per_branch if (c := conns[i]) is not None]
            residuals.append(min(tried) if tried else None)
            convs.append(False)
            which.append(None)
            best.append(None)
    return Complexity(n_qubits=n, phase=phase, q_values=qs, lengths=lengths, residuals=residuals,
                      converged=convs, branch=which, q_path=paths, path_residuals=presid,
                      branch_lengths=[[None if c is None else c.length for c in cs] for cs in per_branch],
                      connections=best, seconds=time.perf_counter() - t0, multiple_shooting_steps=ms_total)


def shoot(metric: PenaltyMetric, h0: torch.Tensor, *, steps: int | None = None) -> Geodesic:
    """Geodesic from I with initial Hamiltonian coordinates ``h0`` (initial value problem)."""
    h0 = torch.as_tensor(h0, dtype=torch.float64)
    if h0.shape[-1] != metric.group.dim or not torch.all(torch.isfinite(h0)):
        raise DeepGeometryError(f"shoot: h0 must be {metric.group.dim} finite coordinates, got shape "
                                f"{tuple(h0.shape)}")
    return euler_arnold(metric.group, metric, metric.flat(h0), steps=steps or default_steps(h0, metric))
