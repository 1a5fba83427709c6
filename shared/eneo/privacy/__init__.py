"""Retention and data protection: how long conversations are kept (and the scheduled function that deletes
what has outlived its period), a user's data export, and a user's erasure."""
