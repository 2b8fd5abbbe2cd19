"""Tunegate: serve and judge fine-tuned language models on AWS."""

__version__ = "0.1.0"
