"""Pure decision functions: may this remote session happen, and who may be admitted.

Built by the policies work; nothing here yet.
"""
