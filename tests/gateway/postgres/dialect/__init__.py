"""Tests of the PostgreSQL dialect: classification, guardrails and result masking."""
