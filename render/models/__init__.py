"""Weight files: the registry of known files, their hashes, downloads and the download command."""
