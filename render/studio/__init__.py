"""The studio: a job server with a durable queue (``python -m render.studio serve``) and its client (``submit``)."""
