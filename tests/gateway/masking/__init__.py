"""Tests of the dialect-neutral masking: detectors and their checks."""
