"""Reader words for the internal names of methods and settings (one map for the whole book).

Tables, ticks, legends and verdict text go through :func:`display_name`, so that no method key
(``restricted_tuned``, ``l2rw``, ...) reaches a page.
"""

from __future__ import annotations

#: method key -> the words a reader sees
METHOD_NAMES = {
    "all": "All",
    "restricted": "Restricted",
    "reweighted": "Reweighted (the paper's method)",
    "reweighted_seed0": "Reweighted, meta seed 0",
    "constant": "constant predictor",
    "cnn_head": "the CNN's own head",
    "restricted_tuned": "Restricted, λ tuned",
    "valid_only": "validation rows only",
    "soft_band": "soft band",
    "label_shift": "smoothed density ratio",
    "lds_inverse": "inverse-density LDS",
    "l2rw": "L2RW",
    "mwnet": "Meta-Weight-Net",
    "l2rw_closed_form": "L2RW weights, closed-form head",
    "mwnet_closed_form": "Meta-Weight-Net weights, closed-form head",
    "free_weights": "free weights",
    "age_only": "h(y) alone",
    "inverse_square": "1/(x²+1)",
    "sigmoid": "sigmoid",
    "one_plus_tanh": "1 + tanh",
}
#: record keys that are not methods -> the words a reader sees
RECORD_NAMES = {
    "meta_final": "meta step's last fit",
}
#: every internal name the book turns into reader words (the browser check looks for all of them)
ALL_NAMES = {**METHOD_NAMES, **RECORD_NAMES}


def display_name(key: str) -> str:
    """The reader's words for ``key`` (the key itself when the map has none)."""
    return ALL_NAMES.get(key, key)
