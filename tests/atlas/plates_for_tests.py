"""Plates used by the atlas tests (loaded with --plates-from; never part of the real atlas)."""

import os
import time

from deepgeometry.atlas.plate import Verdict, plate


def square(x):
    return x * x


def _rule(result):
    x = result["numbers"]["x"]
    return Verdict("supported" if x == 14 else "not supported", rule="x == 14", measured=str(x),
                   expected="14 <by construction>")


@plate("tp-first", title="First <plate>", section="T-1", order=1,
       profiles={"quick": {"seeds": [0, 1, 2]}, "full": {"seeds": [0, 1, 2, 3]}})
def first(cfg, ctx):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 4])
    ctx.save_figure(fig, "parabola", caption="y = x^2 <script>alert(1)</script>")
    return {"numbers": {"sum_sq": sum(ctx.map(square, cfg["seeds"]))}, "notes": "<b>not bold</b>"}


@plate("tp-slow", title="Slow plate", section="T-2", order=2, profiles={"quick": {}, "full": {}})
def slow(cfg, ctx):
    time.sleep(float(os.environ.get("TP_SLEEP", "0")))
    return {"numbers": {"slept": float(os.environ.get("TP_SLEEP", "0"))}}


@plate("tp-claim", title="A claim", section="T-3", kind="claim", order=3, claim="x equals 14",
       profiles={"quick": {}, "full": {}}, verdict=_rule)
def claim(cfg, ctx):
    return {"numbers": {"x": int(os.environ.get("TP_X", "14"))},
            "tables": [{"title": "t", "columns": ["a", "b"], "rows": [[1, 2.5], [3, None]]}]}


@plate("tp-broken", title="Broken", section="T-4", order=4, profiles={"quick": {}, "full": {}})
def broken(cfg, ctx):
    if os.environ.get("TP_BREAK"):
        raise RuntimeError("deliberate failure")
    return {"numbers": {}}
