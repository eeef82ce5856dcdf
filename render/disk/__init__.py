"""Files on disk that every stage writes: atomic writes, 8-bit frame images, fault points for tests."""
