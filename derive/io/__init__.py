"""Writing outputs transactionally, and compiling PDFs.

``safefs``: files without following links (no-follow opens, bounded reads, atomic writes, scans);
``manifest``: the manifest's format, hashes and parsing; ``paths``: the paths a sheet folder's
transaction uses and the refusal of links there; ``writer``: the transaction (``write_outputs``,
``write_many``, ``validate_outputs``, ``recover``); ``compare``: ``derive check``'s read-only
comparison; ``pdf``: compiling the ``.tex`` outputs. io/ imports neither render/ nor verify/: the
caller passes the formats to record and pauses any CPU budget around the writes.
"""
