"""Answering questions: the context sent to the model, the provider stream, and the Redis answer stream."""
