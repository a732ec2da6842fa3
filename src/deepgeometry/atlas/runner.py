"""The main job: collect plates, run (or reuse) each, write records atomically, render the report.

Data flow (DESIGN.md): plates are collected -> each plate's config is hashed with the package version ->
a finished record with that hash is reused, or the plate runs -> the record is written atomically to
``OUT/records/<plate>-<hash>.json`` and its figures to ``OUT/figures/`` -> the report reads only records.
Killing the process loses at most the plate in flight; rerunning resumes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import json
import logging
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DeepGeometryError
from ..utils import atomic_write_bytes, atomic_write_text, dump_json, to_jsonable
from .plate import PLATES, Plate, Verdict

log = logging.getLogger(__name__)

PROFILES = ("quick", "full")

#: modules imported from users' plate files (shipped by value to Ray workers)
USER_PLATE_MODULES: list[str] = []


# ---------------------------------------------------------------------------------------------- collection
def collect_plates(extra_files: Sequence[str | Path] = ()) -> dict[str, Plate]:
    """Import every module of :mod:`deepgeometry.atlas.plates` (and ``extra_files``); return the registry."""
    from . import plates as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    for f in extra_files:
        load_plate_file(f)
    return dict(sorted(PLATES.items(), key=lambda kv: (kv[1].order, kv[0])))


def load_plate_file(path: str | Path) -> None:
    """Import a user's Python file that registers plates with ``@plate``."""
    p = Path(path)
    if not p.is_file() or p.suffix != ".py":
        raise DeepGeometryError(f"plate file not found or not a .py file: {p}")
    name = f"deepgeometry_user_plates_{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise DeepGeometryError(f"cannot import plate file {p}")
    if name in sys.modules:
        return
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    USER_PLATE_MODULES.append(name)
    try:
        spec.loader.exec_module(mod)
    except DeepGeometryError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DeepGeometryError(f"plate file {p} failed to import: {type(e).__name__}: {e}") from None


def select(plates: dict[str, Plate], only: str | None) -> list[Plate]:
    """Plates named in the comma-separated ``only`` (exact names or world names), all when empty."""
    if not only:
        return list(plates.values())
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen: list[Plate] = []
    for w in wanted:
        hits = [p for p in plates.values() if p.name == w or p.world == w]
        if not hits:
            raise DeepGeometryError(f"unknown plate {w!r}; known plates: {', '.join(plates)}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def config_hash(plate: Plate, profile: str, config: dict) -> str:
    """Hash of the plate's name, profile, config and the package version (the cache key)."""
    blob = json.dumps(
        {"plate": plate.name, "profile": profile, "config": to_jsonable(config), "version": __version__},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "deepgeometry": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


# ----------------------------------------------------------------------------------------------- contexts
@dataclass
class _Context:
    """The :class:`~deepgeometry.atlas.plate.PlateContext` given to a running plate."""

    profile: str
    out_dir: Path
    mapper: Any = None
    progress_factory: Callable[..., Iterable] | None = None
    figures: list[dict] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def save_figure(self, fig: Any, name: str, caption: str = "") -> str:
        import matplotlib.pyplot as plt

        if any(f["name"] == name for f in self.figures):
            raise DeepGeometryError(f"figure name {name!r} used twice in one plate")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        self.figures.append({"name": name, "caption": caption, "png": buf.getvalue()})
        return name

    def progress(self, iterable: Iterable, total: int | None = None, description: str = "") -> Iterable:
        if self.progress_factory is None:
            return iterable
        return self.progress_factory(iterable, total=total, description=description)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        items = list(items)
        if self.mapper is None or getattr(self.mapper, "jobs", 0) == 1:  # inline: show a progress bar
            desc = getattr(fn, "__name__", "sweep").strip("_")
            return [fn(x) for x in self.progress(items, total=len(items), description=desc)]
        return self.mapper.map(fn, items)

    def log(self, message: str) -> None:
        self.messages.append(message)
        log.info(message)


def execute(task: dict, mapper: Any = None, progress_factory=None) -> dict:
    """Run one plate; never raises for the plate's own failures (they are returned as ``error``).

    Module-level so that Ray can ship it to workers.
    """
    from ..utils import set_threads

    plate: Plate = task["plate"]
    set_threads(task.get("threads", 1))
    if mapper is None and task.get("mapper") == "ray":
        from .executors import RayMap

        mapper = RayMap(task.get("threads", 1))
    ctx = _Context(
        profile=task["profile"], out_dir=Path("."), mapper=mapper, progress_factory=progress_factory
    )
    t0, c0 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {"error": None, "result": None, "verdict": None}
    try:
        import matplotlib

        matplotlib.use("Agg")
        result = plate.run(dict(task["config"]), ctx)
        if not isinstance(result, dict):
            raise DeepGeometryError(f"plate {plate.name} returned {type(result).__name__}, expected a dict")
        result = to_jsonable(result)
        json.dumps(result, allow_nan=False)
        out["result"] = result
        if plate.verdict is not None:
            v = plate.verdict(result)
            if not isinstance(v, Verdict):
                raise DeepGeometryError(f"plate {plate.name}: verdict rule returned {type(v).__name__}")
            out["verdict"] = v.to_dict()
    except Exception as e:  # noqa: BLE001 - a failing plate is recorded, not fatal to the atlas
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc(limit=8)
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    out["figures"] = ctx.figures
    out["messages"] = ctx.messages
    return out


# ------------------------------------------------------------------------------------------------ records
def record_path(out: Path, plate: Plate, h: str) -> Path:
    return out / "records" / f"{plate.name}-{h}.json"


def load_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) and rec.get("status") == "ok" else None


def write_record(out: Path, plate: Plate, profile: str, config: dict, h: str, payload: dict) -> dict:
    """Write figures, then the record (atomically; the record is the commit point)."""
    figs = []
    for f in payload.get("figures", []):
        rel = Path("figures") / f"{plate.name}-{h}-{f['name']}.png"
        atomic_write_bytes(out / rel, f["png"])
        figs.append({"name": f["name"], "caption": f["caption"], "file": str(rel)})
    rec = {
        "plate": plate.name,
        "title": plate.title,
        "section": plate.section,
        "kind": plate.kind,
        "world": plate.world,
        "claim": plate.claim,
        "order": plate.order,
        "profile": profile,
        "config": config,
        "hash": h,
        "seeds": config.get("seeds", config.get("seed")),
        "versions": versions(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": payload["seconds"],
        "cpu_seconds": payload.get("cpu_seconds"),
        "status": "ok" if payload["error"] is None else "failed",
        "error": payload["error"],
        "traceback": payload.get("traceback"),
        "result": payload["result"],
        "verdict": payload["verdict"],
        "figures": figs,
        "messages": payload.get("messages", []),
    }
    atomic_write_text(record_path(out, plate, h), dump_json(rec))
    return rec


@dataclass
class AtlasSummary:
    rows: list[dict]
    report: Path | None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]


def _cleanup_tmp(out: Path) -> None:
    for sub in ("records", "figures"):
        d = out / sub
        if d.is_dir():
            for t in d.glob(".*.tmp"):
                t.unlink(missing_ok=True)


def run_atlas(
    out: str | Path,
    *,
    profile: str = "quick",
    only: str | None = None,
    executor: str = "local",
    address: str | None = None,
    jobs: int = 1,
    threads: int = 1,
    force: bool = False,
    extra_plate_files: Sequence[str | Path] = (),
    progress: bool = True,
    render: bool = True,
) -> AtlasSummary:
    """Run the atlas into ``out``; see the module docstring. Returns a summary (rows per plate)."""
    if profile not in PROFILES:
        raise DeepGeometryError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    if threads < 1:
        raise DeepGeometryError(f"--threads must be >= 1, got {threads}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DeepGeometryError(f"--out {out} exists and is not a folder")
    plates = select(collect_plates(extra_plate_files), only)
    if not plates:
        raise DeepGeometryError("no plates are registered")
    out.mkdir(parents=True, exist_ok=True)
    _cleanup_tmp(out)

    from .executors import LocalExecutor, RayExecutor
    from .progress import ProgressUI

    if executor not in ("local", "ray"):
        raise DeepGeometryError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    ex = (
        RayExecutor(address=address, num_cpus=jobs if jobs > 1 else None, threads=threads)
        if executor == "ray"
        else LocalExecutor(
            jobs=jobs, threads=threads, plate_files=[str(Path(f).resolve()) for f in extra_plate_files]
        )
    )

    rows: list[dict] = []
    todo: list[dict] = []
    for p in plates:
        cfg = p.config(profile)
        h = config_hash(p, profile, cfg)
        rp = record_path(out, p, h)
        rec = None if force else load_record(rp)
        if rec is not None:
            rows.append(
                {
                    "plate": p.name,
                    "status": "cached",
                    "seconds": rec["seconds"],
                    "verdict": (rec.get("verdict") or {}).get("verdict", ""),
                    "record": str(rp),
                }
            )
        else:
            todo.append(
                {
                    "plate": p,
                    "profile": profile,
                    "config": cfg,
                    "hash": h,
                    "threads": threads,
                    "mapper": executor,
                }
            )

    ui = ProgressUI(enabled=progress, total=len(todo))
    try:
        with ui:
            if executor == "ray":
                runner = execute
            else:

                def runner(task: dict) -> dict:
                    ui.start(task["plate"].name)
                    return execute(task, mapper=ex, progress_factory=ui.track)

            if jobs > 1 and len(todo) > 1:
                ui.note(f"running {len(todo)} plates on {jobs} {executor} workers")
            for task, payload in ex.run_plates(todo, runner):
                p = task["plate"]
                rec = write_record(out, p, profile, task["config"], task["hash"], payload)
                row = {
                    "plate": p.name,
                    "status": "ran" if rec["status"] == "ok" else "failed",
                    "seconds": rec["seconds"],
                    "verdict": (rec.get("verdict") or {}).get("verdict", ""),
                    "record": str(record_path(out, p, task["hash"])),
                    "error": rec["error"],
                }
                rows.append(row)
                ui.done(p.name, row)
    finally:
        ex.close()

    order = {p.name: i for i, p in enumerate(plates)}
    rows.sort(key=lambda r: order[r["plate"]])
    report = None
    if render:
        from ..report import render_dir

        report = render_dir(out, [r["record"] for r in rows])
    return AtlasSummary(rows=rows, report=report)
