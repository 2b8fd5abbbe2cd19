"""Local Bedrock Runtime (and OpenAI-compatible) emulator for development and tests only.

It speaks the real wire protocols so the real boto3 client reaches it via `endpoint_url`.
"""

from emulator.base_model import BASE_MODEL_ID
from emulator.models import OPENAI_REFERENCE_MODEL, REFERENCE_MODEL_ARN
from emulator.server import Emulator, start_emulator

__all__ = [
    "BASE_MODEL_ID",
    "OPENAI_REFERENCE_MODEL",
    "REFERENCE_MODEL_ARN",
    "Emulator",
    "start_emulator",
]
