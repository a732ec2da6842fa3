"""The paper's claims about CNNs and ResNets (Sections III-A/B, IV) as measured experiments.

One module per claim; each holds ``CLAIM`` (the quoted sentence and its section), ``EXPECTED`` (the
literature's expectation and its source), ``QUICK`` / ``FULL`` configs, ``run(config, ctx) -> result`` and the
pre-declared decision rule ``rule(result) -> Verdict`` (a pure function of the result, unit-tested on
synthetic inputs). The atlas plates in :mod:`deepgeometry.atlas.plates.claims` wrap them.
"""

MODULES = (
    "locality",
    "sawtooth",
    "depth",
    "activations",
    "near_identity",
    "shortcuts",
    "preact",
    "highway",
    "flattening",
    "fc_head",
)
