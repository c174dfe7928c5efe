"""The .dlm document: parsing, schema, sections, sources, lossless editing and migration."""
