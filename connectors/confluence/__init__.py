"""Confluence Cloud: the connector, its REST client, page restrictions (``acl``) and storage-format parsing."""
