"""Plate modules: each world registers its plates in one module here (imported by the runner)."""
