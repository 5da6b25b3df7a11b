"""Operator commands that act on a stage's tables and queues directly (AWS credentials needed)."""
