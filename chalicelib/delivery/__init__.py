"""Sending fires: the worker, the HTTP notifier and its safety rules, signing, redaction, dead letters."""
