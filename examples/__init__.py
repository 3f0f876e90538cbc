"""Runnable examples; each is imported and validated by tests/test_examples.py."""
