"""Spans as plain values, how to fetch them from Jaeger, and what to assert about them."""
