"""Animation modes: how each frame's init is made from the frames before it (2D, 3D, video input)."""
