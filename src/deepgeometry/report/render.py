"""Render atlas records into one self-contained HTML file.

Inline CSS, figures embedded as base64 PNG, no scripts, no network requests. Every string that comes from
a record (titles, notes, table cells, error messages, user-supplied plate names) is HTML-escaped. The output
depends only on the records, so identical records give identical bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..errors import DeepGeometryError
from ..utils import atomic_write_text

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;
background:#fafafa}
header{background:#12263a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;opacity:.85}main{max-width:1180px;margin:0 auto;padding:12px 24px 60px}
h2{border-bottom:2px solid #12263a;padding-bottom:4px;margin-top:36px}
section.plate{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:14px 18px;margin:18px 0}
section.plate h3{margin:0 0 4px}.meta{color:#5b6773;font-size:13px}
table{border-collapse:collapse;margin:8px 0;font-size:13.5px}td,th{border:1px solid #d5dbe1;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#eef2f6}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7eb}
figcaption{font-size:13px;color:#3e4a56}
.v{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:13px}
.v-supported{background:#d7f2dc;color:#145a23}.v-not{background:#f8d7d7;color:#7a1616}
.v-inconclusive{background:#fdf1c7;color:#6b5300}.v-failed{background:#7a1616;color:#fff}
blockquote{margin:6px 0;padding:4px 10px;border-left:3px solid #9fb3c8;color:#33404c;background:#f4f7fa}
pre{background:#f3f4f6;padding:8px;overflow:auto;font-size:12px}details{margin-top:6px}
nav a{margin-right:12px}
"""

_WORLD_TITLES = {
    "nets_curves": "Networks as curves",
    "nets_poole": "Networks as curves",
    "nets": "Networks as curves",
    "quantum": "The quantum world",
    "diffeo": "The registration world",
    "claims": "The paper's claims",
    "ep": "Equilibrium propagation",
}


def _verdict_badge(verdict: str | None, status: str = "ok") -> str:
    if status != "ok":
        return '<span class="v v-failed">failed</span>'
    if not verdict:
        return ""
    cls = (
        "v-supported"
        if verdict == "supported"
        else "v-not"
        if verdict.startswith("not")
        else "v-inconclusive"
    )
    return f'<span class="v {cls}">{escape(verdict)}</span>'


class _Raw(str):
    """Already-escaped HTML produced by this module (never user text)."""


def _fmt(x: Any) -> str:
    if isinstance(x, _Raw):
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    if x is None:
        return "–"
    if isinstance(x, (list, dict)):
        return escape(json.dumps(x)[:200])
    return escape(str(x))


def _table(columns: Sequence[Any], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(title)}</caption>" if title else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(name: str) -> str:
    return "plate-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _plate_html(rec: dict, base: Path) -> str:
    parts = [f'<section class="plate" id="{_anchor(rec["plate"])}">']
    v = (rec.get("verdict") or {}).get("verdict")
    parts.append(
        f"<h3>{escape(rec.get('title', rec['plate']))} {_verdict_badge(v, rec.get('status', 'ok'))}</h3>"
    )
    parts.append(
        f'<div class="meta">paper {escape(str(rec.get("section", "")))} · plate '
        f"<code>{escape(rec['plate'])}</code> · profile {escape(str(rec.get('profile', '')))} · "
        f"{float(rec.get('seconds') or 0):.1f} s</div>"
    )
    if rec.get("claim"):
        parts.append(f"<blockquote>{escape(rec['claim'])}</blockquote>")
    if rec.get("status") != "ok":
        parts.append(f"<p><b>This plate failed:</b> {escape(str(rec.get('error')))}</p>")
    if rec.get("verdict"):
        vd = rec["verdict"]
        parts.append(
            _table(
                ["rule", "measured", "expected", "verdict"],
                [[vd.get("rule"), vd.get("measured"), vd.get("expected"), vd.get("verdict")]],
            )
        )
    result = rec.get("result") or {}
    numbers = result.get("numbers") or {}
    if numbers:
        parts.append(_table(["quantity", "value"], [[k, numbers[k]] for k in sorted(numbers)]))
    for t in result.get("tables") or []:
        parts.append(_table(t.get("columns", []), t.get("rows", []), t.get("title", "")))
    for f in rec.get("figures") or []:
        path = base / f["file"]
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            parts.append(f"<p>(figure {escape(f['name'])} is missing: {escape(str(path))})</p>")
            continue
        parts.append(
            f'<figure><img alt="{escape(f["name"])}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(f.get('caption') or f['name'])}</figcaption></figure>"
        )
    if result.get("notes"):
        parts.append(f"<p>{escape(str(result['notes']))}</p>")
    prov = {k: rec.get(k) for k in ("config", "seeds", "versions", "hash", "finished", "cpu_seconds")}
    parts.append(
        "<details><summary>configuration and provenance</summary><pre>"
        f"{escape(json.dumps(prov, indent=1, sort_keys=True))}</pre></details>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def render(records: Sequence[dict], base: str | Path = ".", title: str = "deepgeometry atlas") -> str:
    """HTML text for ``records`` (figure files are resolved relative to ``base``)."""
    base = Path(base)
    recs = sorted(records, key=lambda r: (r.get("order", 100), r["plate"]))
    claims = [r for r in recs if r.get("kind") == "claim"]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>The paper's pictures, measured: every figure computed, "
        "every claim an experiment with a verdict.</p></header><main>",
    ]
    n_ok = sum(r.get("status") == "ok" for r in recs)
    out.append(f"<p>{len(recs)} plates, {n_ok} finished, {len(recs) - n_ok} failed.</p>")
    if claims:
        out.append("<h2>Claims</h2>")
        rows = []
        for r in claims:
            vd = r.get("verdict") or {}
            rows.append(
                [
                    r.get("claim") or r.get("title"),
                    f"{r.get('title')} ({r.get('section')})",
                    vd.get("measured"),
                    vd.get("expected"),
                    _Raw(_verdict_badge(vd.get("verdict"), r.get("status", "ok"))),
                ]
            )
        out.append(_table(["claim (paper)", "experiment", "measured", "expected", "verdict"], rows))
    worlds: dict[str, list[dict]] = {}
    for r in recs:
        worlds.setdefault(_WORLD_TITLES.get(r.get("world", ""), r.get("world", "") or "Other"), []).append(r)
    out.append("<nav>" + "".join(f'<a href="#{_anchor(w)}">{escape(w)}</a>' for w in worlds) + "</nav>")
    for w, rs in worlds.items():
        out.append(f'<h2 id="{_anchor(w)}">{escape(w)}</h2>')
        out.extend(_plate_html(r, base) for r in rs)
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def render_dir(out: str | Path, record_files: Sequence[str | Path] | None = None) -> Path:
    """Render ``OUT/index.html`` from the given record files (default: every record in ``OUT/records``).

    When several records exist for one plate (older configs), the newest finished one is used.
    """
    out = Path(out)
    if record_files is None:
        rec_dir = out / "records"
        if not rec_dir.is_dir():
            raise DeepGeometryError(f"no records folder in {out}; run `deepgeometry atlas --out {out}` first")
        record_files = sorted(rec_dir.glob("*.json"))
    latest: dict[str, dict] = {}
    for f in record_files:
        try:
            rec = json.loads(Path(f).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DeepGeometryError(f"cannot read record {f}: {e}") from None
        if not isinstance(rec, dict) or "plate" not in rec:
            raise DeepGeometryError(f"{f} is not an atlas record")
        old = latest.get(rec["plate"])
        if old is None or str(rec.get("finished", "")) >= str(old.get("finished", "")):
            latest[rec["plate"]] = rec
    html = render(list(latest.values()), base=out)
    path = out / "index.html"
    atomic_write_text(path, html)
    return path
