"""Authoring tools above the world layer: a new world to start from, Tiled import, the world JSON Schema.

They write world YAML through one emitter (``yaml_writer``) and check what they write with the
world loader; nothing in ``world/`` imports them.
"""
