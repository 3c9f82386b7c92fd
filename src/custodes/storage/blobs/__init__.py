"""custodes.storage.blobs."""
