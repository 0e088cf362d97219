"""metareweight: reproduction of meta-learned data re-weighting for regression.

The package is layered; data flows one way, and a module imports only from its own layer or
the layers above it in this list (``tests/test_layers.py`` checks it, and that no import cycle
exists):

1. **base**: ``settings`` (every environment variable), ``progress`` (terminal progress),
   ``cache``, ``profiles``, ``stats``, ``models`` (the CNN, h_theta, the device), ``splits``,
   ``shipped`` (the extractors shipped with the repository),
   ``reference`` (the paper's numbers), ``names`` (display names)
2. **data**: ``data`` (UTKFace, the stand-in, the two pixel conventions)
3. **models and heads**: ``extractor`` (the CNN's one training loop, features),
   ``alignment``, ``ridge``, ``solver`` (the meta step's solves), ``baselines``,
   ``meta`` (the learned re-weighting), ``alternatives`` (simple and peer methods),
   ``influence``, ``toys``
4. **runs**: ``pool`` (worker processes), ``experiment`` (one split, one configuration, cached),
   ``sweep``
5. **book**: the machinery of the chapters: ``runconfig``, ``runbook``, ``records``,
   ``verdicts``, ``table1``, ``authors``, ``report``, ``plots``, ``toyplots``, ``bench``,
   ``ship``, ``verify``, ``mathjax``, ``display`` (how tables and counts are shown),
   ``tablenumbers`` (the built book's table numbers)
6. **chapters**: the subpackage ``chapters``, one module per chapter: the tables, records and
   verdicts a notebook shows, assembled from everything above
"""

__version__ = "0.1.0"

#: The layers of the docstring, top to bottom (a module may import from its layer and above).
LAYERS = (
    ("base", ("settings", "progress", "cache", "profiles", "stats", "models", "splits", "shipped",
              "reference", "names")),
    ("data", ("data",)),
    ("models and heads", ("extractor", "alignment", "ridge", "solver", "baselines", "meta", "alternatives",
                          "influence", "toys")),
    ("runs", ("pool", "experiment", "sweep")),
    ("book", ("runconfig", "runbook", "records", "verdicts", "table1", "authors", "report", "plots", "toyplots",
              "bench", "ship", "verify", "mathjax", "display", "tablenumbers")),
    ("chapters", ("chapters",)),
)
