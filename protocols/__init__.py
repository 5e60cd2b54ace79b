"""Runnable protocols: scripts built on :mod:`sleep_brian.experiment`, each usable as a module.

``python -m sleep_brian.protocols.wake_sleep``  trained vs untrained accuracy over sleep levels and seeds.
"""
