"""What the process is configured with: settings, stages and the deployments registry.

- `settings`: the one settings model of the app, the worker and the CLI (`Settings`, with the
  evaluation-job tuning as `Settings.jobs`), parsed from an environment mapping
  (`settings_from_env`); `get_settings()` is the process's, `install_settings` sets them.
- `stages`: a stage's variables in `.chalice/config.json` (standard library only, so the CLI
  starts fast; nothing is re-exported here for the same reason).
- `registry`: the deployments registry (`load_registry`, `Registry.select`: the one lookup of
  deployments by name).
"""
