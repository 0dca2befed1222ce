"""Slack: channels through the Web API (``web``), admin exports (``export``), and the message model both share
(``markup``)."""
