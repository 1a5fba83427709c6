"""Knowledge use cases: collections (`Group`) in spaces, their documents (`InfoBlob`), uploads, retries.

One module a use case: `collections`, `reembedding` (a collection moved to another model), `documents`,
`lost_uploads` (presigned uploads settled when read), `uploads`, `retries`; `access` holds the look-ups
with access checks they share. This package is the domain's one surface: routes and other domains
import the use cases from here.

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

from eneo.knowledge.service.access import StorageUnavailable, blob_out, readable_group_ids
from eneo.knowledge.service.collections import create_group, delete_group, get_group, list_groups, update_group
from eneo.knowledge.service.documents import delete_blob, get_blob, get_passage, list_blobs, rename_blob
from eneo.knowledge.service.lost_uploads import expire_lost_uploads, notice_arrived_uploads
from eneo.knowledge.service.retries import retry
from eneo.knowledge.service.uploads import create_upload_url, upload

__all__ = [
    "StorageUnavailable", "blob_out", "create_group", "create_upload_url", "delete_blob", "delete_group",
    "expire_lost_uploads", "get_blob", "get_group", "get_passage", "list_blobs", "list_groups",
    "notice_arrived_uploads", "readable_group_ids", "rename_blob", "retry", "update_group", "upload",
]
