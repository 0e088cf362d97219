"""Ship the paper profile's trained extractors with the repository: ``python -m metareweight.ship``.

Every extractor the paper book uses (:func:`experiment.extractor_jobs`) whose training has
finished in the cache is written, final weights only, to ``results/paper/extractors/<key>.pt``
with its entry in ``manifest.json``: the cache key, what it was trained on (data checksum,
split, pixel convention, seed, epochs), its per-epoch history and the sha256 of its file.
``--train`` trains the missing ones first, one after the other, committing nothing itself.
A book run then loads the shipped extractors (checked by sha256) instead of training them.
"""

from __future__ import annotations

import argparse
import sys

from .data import code_pixels, load_dataset
from .experiment import AGE_SCALE, extractor_jobs, get_extractor
from .extractor import cached_epochs, extractor_key
from .profiles import resolve
from .progress import log
from .settings import shipped_dir
from .shipped import read_manifest, ship
from .splits import make_splits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="train the missing extractors first")
    args = parser.parse_args(argv)
    cfg = resolve("paper")
    faces = load_dataset()
    if faces.is_standin:
        print("error: set UTKFACE: only extractors trained on the real data are shipped", file=sys.stderr)
        return 2
    variants = {"scaled": faces, "code": code_pixels(faces)}
    splits = make_splits(faces.ages, n_splits=cfg["n_splits"], low=cfg["target_low"], high=cfg["target_high"],
                         seed=cfg["split_seed"])
    folder = shipped_dir()
    shipped = read_manifest(folder)["extractors"]
    missing = 0
    for pixels, k, seed in extractor_jobs(cfg):
        data, split = variants[pixels], splits[k]
        run_cfg = cfg.variant(train_seed=seed)
        key = extractor_key(data.images[split.train_all], data.ages[split.train_all] / AGE_SCALE,
                            epochs=run_cfg["epochs"], batch_size=run_cfg["batch_size"], lr=run_cfg["lr"], seed=seed,
                            data_checksum=data.checksum, split=k, force_cpu=run_cfg["force_cpu"])
        name = f"split {k}, {pixels} pixels, seed {seed}"
        if key in shipped:
            log(f"{name}: shipped already ({key})")
            continue
        if not args.train and cached_epochs(key) < run_cfg["epochs"]:
            log(f"{name}: not trained yet ({cached_epochs(key)} of {run_cfg['epochs']} epochs cached)")
            missing += 1
            continue
        trained = get_extractor(data, split, run_cfg)
        entry = ship(trained, folder, {"data_sha256": faces.checksum, "split": k, "pixels": pixels, "seed": seed,
                                       "epochs": run_cfg["epochs"], "batch_size": run_cfg["batch_size"],
                                       "lr": run_cfg["lr"], "n_rows": int(len(split.train_all))})
        log(f"{name}: shipped as {entry['file']} (sha256 {entry['sha256'][:12]}…)")
    print(f"{len(read_manifest(folder)['extractors'])} extractors shipped in {folder}; {missing} not trained yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
