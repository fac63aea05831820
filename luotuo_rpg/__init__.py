"""luotuo-rpg (骆驼RPG): a Chinese-first generative-agents town."""

__version__ = "0.1.0"
