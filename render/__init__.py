"""The renderer: config -> plan -> modes and generators -> run -> output, tied together by app.py."""
