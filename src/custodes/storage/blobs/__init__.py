"""Blob store backends of the ``BlobStore`` port (``custodes.core.ports``).

``local.LocalBlobStore`` keeps blobs on a local filesystem; an S3 backend sits beside it.
``bootstrap`` picks one from the settings.
"""
