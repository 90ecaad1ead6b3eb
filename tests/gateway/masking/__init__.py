"""Tests of gateway.masking."""
