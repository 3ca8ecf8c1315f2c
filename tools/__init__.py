"""Commands for people around the pipeline: review reports and checks (not DVC stages)."""
