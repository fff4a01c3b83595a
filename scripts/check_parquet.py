#!/usr/bin/env python3
"""Check every Parquet file of a run directory against the artifact contract.

Usage:

    pip install pyarrow
    python3 scripts/check_parquet.py RUN_DIR

The script opens every *.parquet file under RUN_DIR with pyarrow, prints its path, row count
and schema, and reads every record batch so that a damaged data page fails too. Where a file
has one of the reserved columns of ARCHITECTURE.md it must have the contract's type:
_row_id uint64, _label uint8, score float64 and split string (Arrow Utf8). Files inside
hidden directories, such as the .NAME.partial-PID directories of a stage that failed or is
still running, are skipped because nothing reads them.

Exit status: 0 when every file passes, 1 when a file cannot be read, has a reserved column
of the wrong type, or no Parquet file is found, and 2 for a usage error or missing pyarrow.
"""

import argparse
import os
import sys
from pathlib import Path

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:
    print("check_parquet.py needs pyarrow: run `pip install pyarrow`", file=sys.stderr)
    sys.exit(2)

# Reserved column: (pyarrow type, the type's name in ARCHITECTURE.md, which uses Arrow's names).
RESERVED_TYPES = {
    "_row_id": (pa.uint64(), "UInt64"),
    "_label": (pa.uint8(), "UInt8"),
    "score": (pa.float64(), "Float64"),
    "split": (pa.string(), "Utf8"),
}


def parse_args():
    parser = argparse.ArgumentParser(
        description="Check the Parquet files of a run directory against the artifact contract."
    )
    parser.add_argument("run_dir", type=Path, help="directory searched recursively for *.parquet")
    return parser.parse_args()


def find_parquet_files(root):
    """Return (visible files, number of skipped files inside hidden directories), sorted.

    Symbolic links to directories are followed, because a run directory links each stage
    to its entry in the stage cache.
    """
    visible = []
    hidden = 0
    for directory, _, files in os.walk(root, followlinks=True):
        relative_parts = Path(directory).relative_to(root).parts
        for name in files:
            path = Path(directory) / name
            if not name.endswith(".parquet") or not path.is_file():
                continue
            if any(part.startswith(".") for part in relative_parts):
                hidden += 1
            else:
                visible.append(path)
    return sorted(visible), hidden


def check_file(path):
    """Print one file's rows and schema, and return its problems as messages."""
    try:
        parquet_file = pq.ParquetFile(path)
        schema = parquet_file.schema_arrow
        rows = parquet_file.metadata.num_rows
        for _ in parquet_file.iter_batches():
            pass
    except Exception as error:  # pyarrow raises OSError, ArrowInvalid and others
        print(f"{path}: unreadable")
        reason = " ".join(str(error).split())
        return [f"{path}: cannot read as Parquet ({type(error).__name__}: {reason})"]

    print(f"{path}: {rows} rows")
    for line in schema.to_string(show_field_metadata=False, show_schema_metadata=False).splitlines():
        print(f"  {line}")

    problems = []
    for name, (expected, contract_name) in RESERVED_TYPES.items():
        index = schema.get_field_index(name)
        if index == -1:
            if name in schema.names:
                problems.append(f"{path}: reserved column `{name}` appears more than once")
            continue
        actual = schema.field(index).type
        if actual != expected:
            problems.append(
                f"{path}: reserved column `{name}` is {actual}, but the artifact contract "
                f"requires {contract_name} (pyarrow {expected})"
            )
    return problems


def main():
    args = parse_args()
    if not args.run_dir.is_dir():
        print(f"{args.run_dir}: not a directory (pass a run directory)", file=sys.stderr)
        return 2

    files, hidden = find_parquet_files(args.run_dir)
    if hidden:
        print(f"skipped {hidden} Parquet file(s) inside hidden directories")
    if not files:
        print(f"{args.run_dir}: no *.parquet files found (check the path)", file=sys.stderr)
        return 1

    problems = []
    for path in files:
        problems.extend(check_file(path))

    print(f"checked {len(files)} file(s), {len(problems)} problem(s)")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
