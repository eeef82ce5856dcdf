"""The API's routers, one per resource: jobs, their events and files, presets, plans."""
