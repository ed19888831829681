"""Load the compiled pixel kernels ahead of the work: imported by a multi-worker build's forkserver before it forks
the workers (a :class:`~builders.registry.Subset`'s ``preload``), so that every worker starts with the kernels
compiled, or read from numba's cache, once instead of once per worker (about 1 CPU-s a worker with a warm cache,
13 CPU-s with an empty one).

Importing this module runs one small composite with every step switched on, one single-channel area resize, one
separable filter of a tiny image and one RandOcc polygon fill, through the public functions: the kernels get the
argument types the builders give them. It never raises: when the backend cannot run, the workers report it themselves
(:func:`builders.kernels.load`, one ``error:`` line).
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import backend


def warm() -> None:
    """Call every compiled kernel once on small inputs shaped like the builders' (frozen source image and region, a
    premultiplied cut-out that needs shrinking); nothing when the numpy backend runs."""
    if backend() != "numba":
        return
    from .. import exact_filter as xf
    from .. import exact_image as xi
    from ..compositing import NatOccConfig, composite
    from ..compositing.blend import binomial
    from ..occluders.randocc import fill_polygon

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 48, 3), np.uint8)
    region = np.zeros((48, 48), bool)
    region[12:36, 12:36] = True
    occluder = rng.integers(0, 256, (64, 64, 4), np.uint8)
    occluder[..., 3] = np.where(np.hypot(*np.mgrid[-32:32, -32:32]) < 28, 255, 96).astype(np.uint8)
    for a in (image, region):
        a.setflags(write=False)
    every_step = NatOccConfig(jitter_p=1.0, bc_p=1.0, blur_p=1.0, jpeg_p=1.0)
    composite(image, region, occluder, np.random.default_rng(1), config=every_step)
    xi.area_resize(np.zeros((8, 8, 1), np.uint8), (3, 3))
    xf.separable_filter(np.zeros((2, 2), np.uint8), binomial(5))  # a region too small for the box-sum path
    fill_polygon(np.array([[0, 0], [160, 0], [80, 160]]), 16)  # RandOcc's blob


with contextlib.suppress(Exception):  # in a forkserver: never stop it; a worker reports what is wrong
    warm()
