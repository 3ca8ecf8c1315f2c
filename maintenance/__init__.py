"""Upkeep commands: the lock check, the cache check, push, the plots-page check, params docs, stage deps."""
