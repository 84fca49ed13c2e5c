"""Everything that checks a result."""
