"""metareweight: reproduction of meta-learned data re-weighting for regression."""

__version__ = "0.1.0"
