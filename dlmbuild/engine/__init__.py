"""The generic build engine: targets, keys, caches, scheduling. It knows nothing about models."""
