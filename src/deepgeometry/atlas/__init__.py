"""The main job: one registered plate per paper figure or claim (see :mod:`deepgeometry.atlas.plate`)."""

from .plate import PLATES as PLATES
from .plate import Plate as Plate
from .plate import SimpleContext as SimpleContext
from .plate import Verdict as Verdict
from .plate import plate as plate
from .runner import collect_plates as collect_plates
from .runner import run_atlas as run_atlas

__all__ = ["PLATES", "Plate", "SimpleContext", "Verdict", "collect_plates", "plate", "run_atlas"]
