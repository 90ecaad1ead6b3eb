"""Tests of the SQL guardrails."""
