"""Imported first by the build's forkserver (its ``preload``, :func:`aflw_occ.parallel.process_pool`): the forkserver
dies with the driver that started it (:mod:`aflw_occ.lifeline`). Nothing else imports this module.

No thread is started here: the forkserver must stay single-threaded to fork workers safely.
"""

from __future__ import annotations

from .lifeline import set_parent_death_signal

ARMED = set_parent_death_signal()
