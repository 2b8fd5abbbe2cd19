"""Data preparation: turn a labelled table into fine-tuning files, check them, and price them."""
