"""The one error type of deepgeometry."""

from __future__ import annotations


class DeepGeometryError(ValueError):
    """Bad input or an impossible request, with a message that names the bad value.

    The CLI turns it into one line on stderr and exit code 2.
    """
