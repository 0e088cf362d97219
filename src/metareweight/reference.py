"""Numbers published by the paper and saved by its authors: the reference we compare against.

These are quotations, not results: every number of ours is computed by the notebooks.
"""

#: Table 1 of the paper: mean and std over 8 splits, in the paper's unit (400 x MSE on age/100).
PAPER_TABLE1 = {
    "all": (7.955, 1.344),
    "restricted": (0.249, 0.067),
    "reweighted": (0.206, 0.016),
}

#: Per-split values saved by the authors' code (paper unit, splits 0-7), from
#: shared/REPRODUCTION_NOTES.md.  Their mean and population std give Table 1.
AUTHORS_SPLITS = {
    "all": (9.701, 7.394, 6.960, 10.368, 6.681, 6.519, 8.552, 7.468),
    "restricted": (0.274, 0.228, 0.202, 0.257, 0.242, 0.411, 0.182, 0.197),
    "reweighted": (0.225, 0.209, 0.183, 0.219, 0.220, 0.185, 0.218, 0.189),
}

#: Section 4.4: "only around 200 to 400 out of the initial 8000 train datapoints are given a
#: weight of greater than 0.1".
PAPER_WEIGHTS_ABOVE_0_1 = (200, 400)
