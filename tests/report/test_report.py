import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deepgeometry.atlas.runner import run_atlas
from deepgeometry.report import render, render_dir

TP = str(Path(__file__).parents[1] / "atlas" / "plates_for_tests.py")


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas")
    run_atlas(out, only="tp-first,tp-claim", extra_plate_files=[TP], progress=False)
    return out


def test_report_is_self_contained_and_escaped(atlas_dir):
    html = (atlas_dir / "index.html").read_text()
    assert "<script" not in html.lower().replace("&lt;script", "")  # no scripts; user text escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "First &lt;plate&gt;" in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not load anything"
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 1 and base64.b64decode(imgs[0])[:4] == b"\x89PNG"
    # the claims table comes first and carries the verdict
    assert html.index("<h2>Claims</h2>") < html.index('id="plate-tp-first"')
    assert "x equals 14" in html and "supported" in html


def test_report_is_deterministic(atlas_dir):
    a = (atlas_dir / "index.html").read_bytes()
    render_dir(atlas_dir)
    assert (atlas_dir / "index.html").read_bytes() == a


def test_failed_plate_shows_error():
    rec = {"plate": "p", "title": "P", "section": "S", "kind": "figure", "status": "failed",
           "error": "RuntimeError: <boom>", "result": None, "figures": []}
    html = render([rec])
    assert "This plate failed" in html and "&lt;boom&gt;" in html


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
const _ce = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); _ce(...a); };
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.setAttribute('data-check', JSON.stringify({images: imgs.length, bad: bad,
    errors: window.__errors, h2: document.querySelectorAll('h2').length}));
});
</script>"""


@pytest.mark.browser
def test_report_renders_in_headless_chromium(atlas_dir, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (make test installs it on CI via .ci/run)")
    page = tmp_path / "page.html"
    html = (atlas_dir / "index.html").read_text()
    page.write_text(html.replace("<head>", "<head>" + CHECK, 1))
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r"data-check=\"([^\"]*)\"", r.stdout)
    assert m, f"page did not finish loading: {r.stderr[-1500:]}"
    check = json.loads(m.group(1).replace("&quot;", '"'))
    assert check["images"] == 1 and check["bad"] == 0, check
    assert check["errors"] == [], check
    assert check["h2"] >= 2
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()]
    assert console == []
