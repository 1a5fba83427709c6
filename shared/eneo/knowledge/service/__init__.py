"""Knowledge use cases: collections (`Group`) in spaces, their documents (`InfoBlob`), uploads, retries.

One module a use case: `collections`, `reembedding` (a collection moved to another model), `documents`,
`lost_uploads` (presigned uploads settled when read), `uploads`, `retries`; `access` holds the look-ups
with access checks they share. Callers import the module they need (nothing is re-exported here), so a
function that only checks access (assistants, answers) loads `access` alone.

Decisions (and why):
* Access follows the space: members read a collection, its documents and search it; editors and
  admins of the space (and tenant admins who are members) change them. Everyone else, and every
  other tenant, gets 404: a collection's existence never leaks. Every query filters by tenant;
  Row-Level Security is the second wall.
* A direct upload commits its row before it writes the object: the object's S3 event starts
  ingestion, which must find the row. If the write fails, the row is removed again (503).
* Deleting removes rows first (chunks and vectors go by cascade, in one transaction) and the
  object after the commit: a failed object delete leaves an unreachable object (logged by key),
  never a document whose bytes are gone.
* Changing a collection's embedding model clears every vector of the collection and queues all its
  chunks for the new model in the same change, so vectors of two models never mix in one collection;
  a trigger (migration 0004) drops any vector still being written for the old model afterwards.
* A presigned upload that never arrived is failed (`upload_expired`) when it is read (and by the
  sweep). Any document not yet `ready` may be retried at any time, and uploading the same bytes again
  resumes one that has not finished instead of answering "duplicate": a user can always rescue a
  stuck document, and doing so to one that was in fact moving is harmless (see `retry`). The
  scheduled sweep (eneo.ingestion.sweep) and the local stack's start re-queue stuck ones by themselves.
"""
