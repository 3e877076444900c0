"""Public transaction logs that ship inside installed packages, as CSV files `seg rfm` reads.

The CDNOW sample (Fader & Hardie's 1/10 sample of CDNOW customers, 1997-01 to 1998-06) comes with ``lifetimes``;
its published BG/NBD and Gamma-Gamma parameters make it the reference test of the CLV fit. Nothing is downloaded.
"""

from pathlib import Path

import pandas as pd

CDNOW_COLUMNS = ("customer_id", "sample_id", "date", "cds", "dollar_value")


def cdnow_sample_path() -> Path:
    """Where the installed ``lifetimes`` keeps ``CDNOW_sample.txt`` (whitespace-separated, no header)."""
    import lifetimes

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    if not path.is_file():  # pragma: no cover - part of the lifetimes wheel
        raise FileNotFoundError(f"{path} is missing; reinstall lifetimes")
    return path


def write_cdnow_sample(out: Path, *, sep: str = ",") -> Path:
    """Write the CDNOW sample as a CSV with a header and ISO dates (6,919 lines, 2,357 customers)."""
    df = pd.read_csv(
        cdnow_sample_path(),
        sep=r"\s+",
        header=None,
        names=list(CDNOW_COLUMNS),
        dtype={"customer_id": str, "sample_id": str, "date": str},
    )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, sep=sep)
    return out
