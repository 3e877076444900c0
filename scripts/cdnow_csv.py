"""Write the CDNOW sample that ships with `lifetimes` as a CSV for `seg rfm` (see docs/value.md).

Usage: python scripts/cdnow_csv.py cdnow.csv
"""

import sys
from pathlib import Path

from seg_pipeline.segmentation.public_logs import write_cdnow_sample

if __name__ == "__main__":
    out = write_cdnow_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "cdnow.csv"))
    print(f"wrote {out}")
