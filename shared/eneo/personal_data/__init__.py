"""Personal data kept from external providers: found, masked and restored (`masking`).

Below both its users: the answer path masks questions, history and passages for a chat model
(eneo.answers), and the embedding path masks texts for an external embedding model
(eneo.model_providers.personal_data). It imports only eneo.llm's request types.
"""
