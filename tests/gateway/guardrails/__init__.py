"""Tests of the dialect-neutral guardrails."""
