"""The pure core of fine-tuning: base-model families (hyperparameters, data limits), data
checks, cost estimates, the trained prompt format, loss metrics and the tuning report.
No AWS calls and no I/O beyond reading local files: the tuning service builds on it."""
