"""Fake external services for tests: LLM providers speaking the real wire formats."""
