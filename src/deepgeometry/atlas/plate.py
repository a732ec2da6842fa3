"""Plates: one paper figure or claim each (config -> run -> JSON record -> figures + verdict).

A world adds plates by defining them in a module under :mod:`deepgeometry.atlas.plates`::

    from deepgeometry.atlas.plate import plate, Verdict

    def _rule(result: dict) -> Verdict:            # pure function of the run's result, unit-tested
        ok = result["numbers"]["max_rel_err"] <= 0.02
        return Verdict("supported" if ok else "not supported", rule="max rel. error <= 2%",
                       measured=f"{result['numbers']['max_rel_err']:.3%}", expected="sqrt(chi1), Poole 2016")

    @plate("poole-length", title="Random deep nets bend curves", section="III-A", kind="claim",
           profiles={"quick": {"width": 200}, "full": {"width": 1000}}, verdict=_rule,
           claim="...quoted claim...")
    def run(config: dict, ctx: PlateContext) -> dict:
        ...
        ctx.save_figure(fig, "ratios", caption="...")
        return {"numbers": {"max_rel_err": 0.01}, "tables": [...], "notes": "..."}

What ``run`` returns must be JSON-serialisable. Conventions the report understands:

* ``numbers``: flat ``{name: float | int | str}`` shown as a table;
* ``tables``: list of ``{"title": str, "columns": [str], "rows": [[...]]}``;
* ``notes``: a string shown under the plate;
* anything else is kept in the record as data.

The verdict is never typed by hand: the runner applies the plate's ``verdict`` rule to the result.
Seeds come from ``config`` (``config.get("seeds", [0])``); sweeps over seeds or settings go through
``ctx.map(fn, items)``, which the executor may run in worker processes or on Ray (``fn`` must be a
module-level function of one picklable argument).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import DeepGeometryError

log = logging.getLogger(__name__)

VERDICTS = ("supported", "not supported", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a claim's pre-declared decision rule.

    ``verdict`` is ``"supported"``, ``"not supported"`` or ``"inconclusive: <why>"``.
    """

    verdict: str
    rule: str
    measured: str = ""
    expected: str = ""

    def __post_init__(self) -> None:
        if not any(self.verdict == v or self.verdict.startswith(v + ":") for v in VERDICTS):
            raise DeepGeometryError(
                f"verdict must be one of {VERDICTS} (inconclusive as 'inconclusive: why'), "
                f"got {self.verdict!r}"
            )

    def to_dict(self) -> dict[str, str]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "measured": self.measured,
            "expected": self.expected,
        }


class PlateContext(Protocol):
    """What a plate's ``run`` may use. The runner provides it; tests may use :class:`SimpleContext`."""

    profile: str
    out_dir: Path

    def save_figure(self, fig: Any, name: str, caption: str = "") -> str: ...

    def progress(self, iterable: Iterable, total: int | None = None, description: str = "") -> Iterable: ...

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...

    def log(self, message: str) -> None: ...


@dataclass(frozen=True)
class Plate:
    name: str
    title: str
    section: str
    kind: str
    run: Callable[[dict, PlateContext], dict]
    profiles: dict[str, dict]
    verdict: Callable[[dict], Verdict] | None = None
    claim: str = ""
    order: int = 100
    world: str = ""

    def config(self, profile: str) -> dict:
        if profile not in self.profiles:
            raise DeepGeometryError(
                f"plate {self.name!r} has no profile {profile!r}; it has {sorted(self.profiles)}"
            )
        return dict(self.profiles[profile])


PLATES: dict[str, Plate] = {}


def plate(
    name: str,
    *,
    title: str,
    section: str,
    profiles: dict[str, dict],
    kind: str = "figure",
    verdict: Callable[[dict], Verdict] | None = None,
    claim: str = "",
    order: int = 100,
    world: str = "",
) -> Callable[[Callable[[dict, PlateContext], dict]], Callable[[dict, PlateContext], dict]]:
    """Register the decorated function as the plate ``name`` (see the module docstring)."""
    if kind not in ("figure", "claim"):
        raise DeepGeometryError(f"plate {name!r}: kind must be 'figure' or 'claim', got {kind!r}")
    if kind == "claim" and verdict is None:
        raise DeepGeometryError(f"plate {name!r}: a claim needs a verdict rule")
    for p in ("quick", "full"):
        if p not in profiles:
            raise DeepGeometryError(f"plate {name!r}: profiles must define 'quick' and 'full'")

    def deco(fn: Callable[[dict, PlateContext], dict]) -> Callable[[dict, PlateContext], dict]:
        if name in PLATES and PLATES[name].run is not fn:
            log.debug("plate %s registered twice; keeping the newer one", name)
        PLATES[name] = Plate(
            name=name,
            title=title,
            section=section,
            kind=kind,
            run=fn,
            profiles=profiles,
            verdict=verdict,
            claim=claim,
            order=order,
            world=world or fn.__module__.rsplit(".", 1)[-1],
        )
        return fn

    return deco


@dataclass
class SimpleContext:
    """An in-process context for tests and notebooks: figures go to ``out_dir``; ``map`` is a loop."""

    out_dir: Path
    profile: str = "quick"
    figures: list[dict] = field(default_factory=list)

    def save_figure(self, fig: Any, name: str, caption: str = "") -> str:
        import matplotlib.pyplot as plt

        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.figures.append({"name": name, "path": str(path), "caption": caption})
        return str(path)

    def progress(self, iterable: Iterable, total: int | None = None, description: str = "") -> Iterable:
        return iterable

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(x) for x in items]

    def log(self, message: str) -> None:
        log.info(message)
