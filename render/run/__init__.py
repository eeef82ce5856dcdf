"""Running a render: the frame loop, session, checkpoints, resume, run record, run dir and signals."""
