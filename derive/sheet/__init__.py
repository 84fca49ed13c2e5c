"""Reading sheets: expressions (parse), TOML to the sheet model (load), model checks."""
