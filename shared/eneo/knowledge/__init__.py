"""Knowledge: collections of documents in spaces, their upload, extraction into text, and chunking.

The vocabulary (the README and docs/knowledge.md use it too): a *collection* is a `Group` (table
`groups`, routes `/api/v1/groups/`, `group_id`), a *document* is an `InfoBlob` (table `info_blobs`,
routes `/api/v1/info-blobs/`, `info_blob_id`), a *passage* is a `Chunk`. People read the first words
(docs, messages, the web client); the API keeps Eneo's route and field names, the code its tables' names.
"""
