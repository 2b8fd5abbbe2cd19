"""Build examples/explain/explain.jsonl: a small generative held-out set ("explain the rating in
one sentence") from the vendored drug-review data, deterministically (no model, no randomness).

Which reviews: those of examples/drugreview/drugreview.jsonl whose text is a prompt of the held-out
split examples/drugreview/openai/test.jsonl (never the split the local reference model trains
on), in file order, up to 800 characters long, the first 100.

Each record: `input` asks for a one-sentence explanation of the review's rating; `target` (the
reference) is built from the review's fields: "The review of DRUG for CONDITION is LABEL because
the reviewer says: FIRST SENTENCE." with the review's first sentence cut to 25 words;
`category` is the label.

    .venv/bin/python scripts/make_explain_set.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples" / "drugreview" / "drugreview.jsonl"
HELD_OUT = ROOT / "examples" / "drugreview" / "openai" / "test.jsonl"
OUT = ROOT / "examples" / "explain" / "explain.jsonl"
SEPARATOR = "\n\n###\n\n"
MAX_CHARS = 800
MAX_RECORDS = 100
MAX_WORDS = 25
_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)", re.DOTALL)


def first_sentence(review: str) -> str:
    match = _SENTENCE.match(review.strip())
    sentence = (match.group(1) if match else review).strip()
    words = sentence.split()
    if len(words) > MAX_WORDS:
        sentence = " ".join(words[:MAX_WORDS])
    return sentence.rstrip(".!?,;: ")


def record(row: dict[str, object]) -> dict[str, str]:
    drug, label = str(row["drug"]), str(row["label"])
    condition = str(row["condition"] or "")
    review = str(row["review"])
    about = f"{drug} for {condition}" if condition else drug
    return {
        "input": f"Explain in one sentence why this review of {drug} is rated {label}.\n\n"
        f"Review: {review}",
        "target": f"The review of {about} is {label} because the reviewer says: "
        f"{first_sentence(review)}.",
        "category": label,
    }


def main() -> int:
    held_out = {
        json.loads(line)["prompt"].removesuffix(SEPARATOR).strip()
        for line in HELD_OUT.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    out = []
    for line in SOURCE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["review"].strip() in held_out and len(row["review"]) <= MAX_CHARS:
            out.append(record(row))
        if len(out) == MAX_RECORDS:
            break
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    print(f"wrote {len(out)} records to {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
