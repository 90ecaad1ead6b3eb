"""Tests of the PostgreSQL wire codec."""
