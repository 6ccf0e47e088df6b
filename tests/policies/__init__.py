"""Tests for the pure policies package."""
