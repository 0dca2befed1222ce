"""The files connector: a folder of Markdown, text, HTML and office files, with ``_acl.toml`` permissions."""
