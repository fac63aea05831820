"""The pygame viewer: a second client of the server's websocket protocol and a reader of run folders.

``state`` (pure) applies frames; ``replay`` and ``live`` feed it behind the
``playback`` protocol; ``layout``, ``fonts`` and ``render`` draw it; ``app``
runs the window. Only ``fonts``, ``render`` and ``app`` import pygame.
"""
