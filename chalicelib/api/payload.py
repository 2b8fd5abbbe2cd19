"""What a response body costs against Lambda's 6 MB payload limit, and the one JSON encoding of
response bodies (not ASCII-escaped: a CJK character is 3 bytes in UTF-8, 6 as `\\uXXXX`)."""

from __future__ import annotations

import json
from typing import Any

#: Lambda's response payload limit (synchronous invocation, so every API answer).
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
#: What one response body may cost: the limit less room for headers and the proxy envelope.
RESPONSE_BUDGET = 5 * 1024 * 1024


def body_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def payload_bytes(text: str) -> int:
    """What `text` costs as a response body: the python3.11 Lambda runtime writes the proxy
    response as JSON with non-ASCII characters escaped, so count them as it does."""
    return len(json.dumps(text))


def json_cost(value: Any) -> int:
    return payload_bytes(body_text(value))
