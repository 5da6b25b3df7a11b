"""Helpers the tests share: receivers, a fake clock, API and pipeline helpers, the AWS call log."""
