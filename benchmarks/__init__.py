"""Benchmarks: wsgikit and its peers side by side in one run (ratios, not absolute times)."""
