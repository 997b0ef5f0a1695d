"""tiktok2mqtt benchmarks: ``python -m bench`` writes bench/RESULTS.md.

Not tests: nothing here asserts on time, and nothing here runs in the test suite.
"""
