"""What the built-in embedding model is: its name, vector size and input limit.

A module of its own, importing nothing, so that both the cheap Embedder (eneo.embeddings.local, loaded by
every function that may embed) and the numpy forward pass (eneo.embeddings.minilm, loaded on the first
embed) read one definition without importing each other.
"""

NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_INPUT_TOKENS = 256  # [CLS] and [SEP] included
