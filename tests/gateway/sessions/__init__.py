"""Tests of the protocol-free session core."""
