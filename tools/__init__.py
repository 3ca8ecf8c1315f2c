"""User commands: predict, serve, sweep, review and the parameter profiles."""
