"""The HTML report: records in, one self-contained ``index.html`` out (no computation here)."""

from .render import render as render
from .render import render_dir as render_dir

__all__ = ["render", "render_dir"]
