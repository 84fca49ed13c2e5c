"""Writing outputs transactionally, and compiling PDFs."""
