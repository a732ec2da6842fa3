"""Geodesics of the penalty metric (eq. 1): sign, conservation laws, q = 1 oracles, continuation."""

import math

import pytest
import torch

from deepgeometry.core.geodesic import euler_arnold
from deepgeometry.errors import DeepGeometryError
from deepgeometry.quantum import geodesics as C
from deepgeometry.quantum import pauli
from deepgeometry.quantum.metric import PauliGroup, PenaltyMetric, one_local


class _WrongSign(PauliGroup):
    """The same group with ad_star negated: integrates dL/dt = -i[L, H] (the wrong sign)."""

    def ad_star(self, x, m):
        return super().ad(x, m)


def _random_h(n, seed, scale=0.6):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(4**n - 1, dtype=torch.float64, generator=g)


def _discrete_energy(metric, traj, dt):
    e = 0.0
    for k in range(traj.shape[0] - 1):
        r = C._log_residual(traj[k + 1] @ traj[k].conj().T)[0]
        e = e + float((metric.weights * r * r).sum()) / dt
    return e


def _first_variation(metric, group, seed=3, steps=200):
    m0 = metric.flat(_random_h(3, seed, 0.15))
    geo = euler_arnold(group, metric, m0, steps=steps)
    traj, dt = geo.trajectory, 1.0 / steps
    eta0 = _random_h(3, seed + 100, 1.0)
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    pg = PauliGroup(3)

    def energy(eps):
        var = torch.stack([pg.exp(eps * math.sin(math.pi * tk) * eta0) @ traj[k] for k, tk in enumerate(t)])
        return _discrete_energy(metric, var, dt)

    eps = 1e-4
    return (energy(eps) - energy(-eps)) / (2 * eps), geo


def test_sign_first_variation_vanishes_only_for_the_right_sign():
    metric = PenaltyMetric(3, 5.0)
    good, _ = _first_variation(metric, PauliGroup(3))
    bad, _ = _first_variation(metric, _WrongSign(3))
    assert abs(good) < 1e-3
    assert abs(bad) > 0.1


def test_momentum_conjugation_is_conserved_and_detects_the_sign():
    metric = PenaltyMetric(3, 5.0)
    m0 = metric.flat(_random_h(3, 1, 0.15))
    for group, ok in ((PauliGroup(3), True), (_WrongSign(3), False)):
        geo = euler_arnold(group, metric, m0, steps=200)
        u, l1 = geo.endpoint, pauli.hamiltonian(geo.momenta[-1])
        drift = float((u.conj().T @ l1 @ u - pauli.hamiltonian(m0)).abs().max())
        # the energy is conserved by both signs; only the coadjoint orbit law tells them apart
        e = (geo.momenta * geo.velocities).sum(-1)
        assert float((e - e[0]).abs().max()) < 1e-7
        assert (drift < 1e-6) if ok else (drift > 1e-1)


def test_q1_geodesic_is_one_parameter_subgroup():
    metric = PenaltyMetric(3, 1.0)
    h = _random_h(3, 2)
    geo = C.shoot(metric, h, steps=20)
    u_ref = PauliGroup(3).exp(h)
    assert float((geo.endpoint - u_ref).abs().max()) < 1e-13
    assert abs(float(geo.length) - float(torch.linalg.vector_norm(h))) < 1e-12


def test_cnot_and_toffoli_lengths_at_q1():
    def q1_length(u):
        return float(torch.linalg.vector_norm(C.principal_hamiltonian(u)))

    assert abs(q1_length(C.cnot(3)) - math.sqrt(3) * math.pi / 4) < 1e-12
    assert abs(q1_length(C.toffoli(3)) - math.sqrt(7) * math.pi / 8) < 1e-12
    res = C.complexity(C.cnot(3), 3, [1.0, 10.0], branches=1)
    assert all(res.converged)
    for length in res.lengths:
        assert abs(length - math.sqrt(3) * math.pi / 4) < 1e-9  # every term of CNOT's log is 2-local


@pytest.mark.parametrize("q", [1.0, 7.0, 300.0])
def test_toffoli_generator_is_a_geodesic_for_every_q(q):
    metric = PenaltyMetric(3, q)
    h = C.principal_hamiltonian(C.toffoli(3))
    geo = C.shoot(metric, h)
    target = C.log_branches(C.toffoli(3), "mod-phase", 1)[0][1]
    assert C.endpoint_error(geo.endpoint, target) < 1e-12
    assert float((geo.momenta - geo.momenta[0]).abs().max()) < 1e-12
    assert abs(float(geo.length) - math.pi / 8 * math.sqrt(6 + q)) < 1e-10


def test_haar_mean_at_q1_mod_phase_approaches_pi_over_sqrt3():
    means = []
    for n in (2, 3, 4, 5):
        ls = [float(torch.linalg.vector_norm(C.principal_hamiltonian(C.haar(n, s)))) for s in range(40)]
        means.append(sum(ls) / len(ls))
    assert all(b > a for a, b in zip(means, means[1:], strict=False))  # 1.48, 1.63, 1.73, 1.78
    assert 0 < math.pi / math.sqrt(3) - means[-1] < 0.08


def test_connect_jacobian_matches_finite_differences():
    metric = PenaltyMetric(3, 3.0)
    h, v = C.log_branches(C.haar(3, 4), "mod-phase", 1)[0]
    m0 = metric.flat(h) * 0.8
    _, r, jac, rq = C.shoot_jacobian(metric, m0, v, 32, with_q=True)

    def res(m, q=3.0):
        met = metric.with_q(q)
        return C._log_residual(euler_arnold(met.group, met, m, 32).endpoint @ v.conj().T)[0]

    e = torch.zeros(63, dtype=torch.float64)
    e[11] = 1.0
    fd = (res(m0 + 1e-6 * e) - res(m0 - 1e-6 * e)) / 2e-6
    assert float((jac[:, 11] - fd).abs().max()) < 1e-7
    fdq = (res(m0, 3.0 + 1e-6) - res(m0, 3.0 - 1e-6)) / 2e-6
    assert float((rq - fdq).abs().max()) < 1e-7


@pytest.fixture(scope="module")
def haar_path():
    return C.complexity(C.haar(3, 0), 3, [1.0, 2.0, 4.0], branches=1)


def test_continuation_converges_and_is_monotone(haar_path):
    assert all(haar_path.converged)
    assert all(r < 1e-10 for r in haar_path.residuals)
    assert max(haar_path.path_residuals[0]) < 1e-10
    ls = haar_path.lengths
    assert all(b >= a - 1e-9 for a, b in zip(ls, ls[1:], strict=False))
    assert ls[-1] > ls[0] + 0.1
    assert all(e is not None and e < 1e-7 for e in haar_path.to_dict()["integration_error"])


def test_inverse_and_local_conjugation_invariance(haar_path):
    u = C.haar(3, 0)
    d_inv = C.complexity(u.conj().T, 3, [4.0], branches=1).length
    v = C.haar(1, 5)
    for s in (6, 7):
        v = torch.kron(v, C.haar(1, s))
    d_conj = C.complexity(v @ u @ v.conj().T, 3, [4.0], branches=1).length
    assert abs(d_inv - haar_path.lengths[-1]) < 1e-7
    assert abs(d_conj - haar_path.lengths[-1]) < 1e-7


def test_one_local_cnot_generator_length_grows_like_sqrt_q():
    # CNOT on 2 qubits: H = pi/4 (ZI + IX - ZX) up to sign; ZX is hard for a 1-local easy set and commutes
    # with the easy part, so the generator is a geodesic of length (pi/4) sqrt(2 + q) -> (pi/4) sqrt(q)
    for q in (10.0, 1000.0):
        metric = PenaltyMetric(2, q, easy=one_local(2))
        geo = C.shoot(metric, C.principal_hamiltonian(C.cnot(2)), steps=16)
        assert abs(float(geo.length) - math.pi / 4 * math.sqrt(2 + q)) < 1e-9


@pytest.mark.slow
def test_one_local_easy_set_distance_grows_like_sqrt_q():
    # 1-local strings generate only su(2) + su(2): not bracket-generating, so d(q) ~ c sqrt(q)
    u = C.haar(2, 3)
    res = C.complexity(u, 2, [16.0, 64.0, 256.0], easy=one_local(2), branches=1)
    assert all(res.converged)
    ratios = [d / math.sqrt(q) for d, q in zip(res.lengths, res.q_values, strict=True)]
    assert abs(ratios[2] - ratios[1]) < 0.05 * ratios[2]
    assert abs(ratios[2] - ratios[1]) < abs(ratios[1] - ratios[0])
    assert res.lengths[2] > 1.8 * res.lengths[1]


def test_not_converged_reports_residual_not_length():
    metric = PenaltyMetric(3, 50.0)
    h, v = C.log_branches(C.haar(3, 1), "mod-phase", 1)[0]
    c = C.connect(metric, v, metric.flat(h), max_iter=1, segments=1)
    assert not c.converged and c.length is None and c.residual > 1e-10


def test_su_phase_requires_det_one_and_matches_mod_phase_when_central():
    with pytest.raises(DeepGeometryError, match="det"):
        C.log_branches(C.toffoli(3), "su")
    u = C.haar(3, 2)
    u = u / torch.linalg.det(u) ** (1 / 8)
    h_su = C.principal_hamiltonian(u, "su")
    assert float((PauliGroup(3).exp(h_su) - u).abs().max()) < 1e-12
    h_mod = C.principal_hamiltonian(u)
    assert float(torch.linalg.vector_norm(h_mod)) <= float(torch.linalg.vector_norm(h_su)) + 1e-12


@pytest.mark.parametrize("bad, match", [
    (torch.ones(8, 8, dtype=torch.complex128), "not unitary"),
    (torch.eye(6, dtype=torch.complex128), "2\\^n"),
    (torch.full((8, 8), float("nan"), dtype=torch.complex128), "NaN"),
])
def test_bad_targets(bad, match):
    with pytest.raises(DeepGeometryError, match=match):
        C.complexity(bad, None, 2.0)


def test_bad_metric_arguments():
    with pytest.raises(DeepGeometryError, match="locality"):
        PenaltyMetric(3, 2.0, locality=4)
    with pytest.raises(DeepGeometryError, match="q must be"):
        PenaltyMetric(3, 0.0)
    with pytest.raises(DeepGeometryError, match="q must be"):
        PenaltyMetric(3, float("nan"))
    with pytest.raises(DeepGeometryError, match="4 qubits"):
        C.complexity(C.haar(3, 0), 4, 2.0)


@pytest.mark.slow
def test_haar_continuation_to_q1000():
    res = C.complexity(C.haar(3, 0), 3, [10.0, 100.0, 1000.0], branches=2)
    assert all(res.converged)
    for path in res.path_residuals:
        assert max(path) < 1e-10
    assert all(b >= a - 1e-9 for a, b in zip(res.lengths, res.lengths[1:], strict=False))


def test_multiple_shooting_jacobian_matches_finite_differences():
    metric = PenaltyMetric(2, 3.0, easy=["XI", "IX", "ZI", "IZ", "ZZ"])
    h, v = C.log_branches(C.haar(2, 0), "mod-phase", 1)[0]
    st = C.multiple_shooting_guess(metric, v, 3, 24, geodesic=C.shoot(PenaltyMetric(2, 1.0), h, steps=24))
    basis = pauli.basis(2)
    f, jac, defect = C._ms_system(metric, st, 8, basis)
    assert jac.shape == (75, 75) and defect > 1e-2  # 3 momenta + 2 interior points; a genuine miss
    for col in (0, 9, 17, 33, 44, 52, 61, 74):  # m_0, m_1, m_2, delta_1, delta_2 blocks
        d = torch.zeros(75, dtype=torch.float64)
        d[col] = 1e-6
        fp = C._ms_system(metric, C._ms_update(st, d, metric.group), 8, basis)[0]
        fm = C._ms_system(metric, C._ms_update(st, -d, metric.group), 8, basis)[0]
        assert float(((fp - fm) / 2e-6 - jac[:, col]).abs().max()) < 1e-7


def test_multiple_shooting_reproduces_the_single_shooting_geodesic(haar_path):
    single = haar_path.connections[1]  # q = 2, followed from q = 1 by single shooting
    metric = PenaltyMetric(3, 2.0)
    guess = C.multiple_shooting_guess(metric, single.target, 4, single.steps)  # bi-invariant curve to V
    ms = C.connect_multiple(metric, single.target, guess, steps=single.steps)
    assert ms.converged and ms.residual < 1e-10 and ms.steps == single.steps
    assert float((ms.m0 - single.m0).abs().max()) < 1e-7
    assert abs(ms.length - single.length) < 1e-10


def test_multiple_shooting_converges_where_single_shooting_stalls(haar_path):
    # q = 4 from the q = 1 momentum G(h): single shooting stalls (LM stuck at a residual ~0.3); the
    # automatic fallback (4 segments from the bi-invariant curve) converges to a geodesic I -> V
    metric = PenaltyMetric(3, 4.0)
    h, v = C.log_branches(C.haar(3, 0), "mod-phase", 1)[0]
    c = C.connect(metric, v, metric.flat(h), max_iter=10)
    assert c.multiple_shooting and c.stalled_residual > 0.1
    assert c.converged and c.residual < 1e-10
    geo = euler_arnold(metric.group, metric, c.m0, steps=c.steps)  # an independent plain re-shot
    assert C.endpoint_error(geo.endpoint, v) < 1e-10
    # a geodesic, not necessarily the minimal one: here a longer one (2.186) than the continuation's
    # (2.106); continuation in q remains the way to the minimal branch
    assert c.length >= haar_path.lengths[2] - 1e-9
