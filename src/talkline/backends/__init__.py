"""Backends: `remote` (HTTP to any OpenAI-compatible server) and `local` (embedded model)."""
