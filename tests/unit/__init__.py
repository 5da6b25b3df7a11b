"""Fast tests of one part, no AWS: `pytest -m unit` runs them in seconds."""
