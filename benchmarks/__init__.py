"""Benchmarks of renew_fsm (``python -m benchmarks``); see docs/performance.md."""
