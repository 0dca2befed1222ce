"""Google Docs and Drive files: the connector, the Drive client, the reader and content export."""
