"""Outlines of the figures in unit coordinates: centred on 0, radius about 1, y pointing down.

Every class is an ``(N, 2)`` float array of points; all but the spiral are closed polygons.
Each outline varies a little with the generator (vertex jitter, proportions), so two figures of a
class are never the same shape, only the same kind of shape.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Outline = Callable[[np.random.Generator], np.ndarray]

#: Points on smooth curves: enough that segments stay under a pixel's bend after downsampling.
_CURVE_POINTS = 96


def _ring(angles: np.ndarray, radii: np.ndarray | float) -> np.ndarray:
    return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)


def regular_polygon(rng: np.random.Generator, sides: int, jitter: float = 0.04) -> np.ndarray:
    """A regular ``sides``-gon whose vertex radii vary by about ``jitter`` (relative)."""
    angles = np.linspace(0.0, 2 * np.pi, sides, endpoint=False) - np.pi / 2
    radii = 1.0 + rng.uniform(-jitter, jitter, sides)
    return _ring(angles, radii)


def circle(rng: np.random.Generator) -> np.ndarray:
    angles = np.linspace(0.0, 2 * np.pi, _CURVE_POINTS, endpoint=False)
    return _ring(angles, 1.0)


def triangle(rng: np.random.Generator) -> np.ndarray:
    # Vertex angles jitter by up to 15 degrees so triangles range from equilateral to scalene.
    angles = np.array([-90.0, 30.0, 150.0]) + rng.uniform(-15.0, 15.0, 3)
    return _ring(np.deg2rad(angles), rng.uniform(0.85, 1.0, 3))


def star(rng: np.random.Generator) -> np.ndarray:
    points = int(rng.choice([5, 5, 5, 6]))
    inner = rng.uniform(0.38, 0.52)
    angles = np.linspace(0.0, 2 * np.pi, 2 * points, endpoint=False) - np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return _ring(angles, radii)


def rectangle(rng: np.random.Generator) -> np.ndarray:
    # Never square: aspect 1.3-2.2, so the class is "rectangle that is not a square".
    aspect = rng.uniform(1.3, 2.2)
    half_w, half_h = 1.0, 1.0 / aspect
    return np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])


def crescent(rng: np.random.Generator) -> np.ndarray:
    """The unit disc minus a disc of radius ``r`` centred at ``(d, 0)``, as one polygon."""
    r = rng.uniform(0.75, 0.92)
    d = rng.uniform(0.35, 0.6)
    # Where the two circles cross: (x, +-y).
    x = (1.0 - r**2 + d**2) / (2.0 * d)
    y = np.sqrt(max(1.0 - x**2, 0.0))
    outer_start = np.arctan2(y, x)
    outer = np.linspace(outer_start, 2 * np.pi - outer_start, _CURVE_POINTS)
    inner_top = np.arctan2(y, x - d)
    inner = np.linspace(2 * np.pi - inner_top, inner_top, _CURVE_POINTS // 2)
    ring = _ring(outer, 1.0)
    bite = _ring(inner, r) + np.array([d, 0.0])
    return np.concatenate([ring, bite])


def heart(rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, _CURVE_POINTS, endpoint=False)
    x = 16 * np.sin(t) ** 3
    # Minus: image y points down, and the lobes belong on top.
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y - 2.5], axis=1) / 17.0  # y spans -12..17 before centring
    pts[:, 0] *= rng.uniform(0.9, 1.1)
    return pts


def spiral(rng: np.random.Generator) -> np.ndarray:
    """An open Archimedean spiral of 2-3.5 turns (drawn as a line, not filled)."""
    turns = rng.uniform(2.0, 3.5)
    theta = np.linspace(0.0, 2 * np.pi * turns, int(_CURVE_POINTS * turns))
    radii = 0.08 + 0.92 * theta / theta[-1]
    return _ring(theta + rng.uniform(0, 2 * np.pi), radii)


#: Outline of each class name.
OUTLINES: dict[str, Outline] = {
    "circle": circle,
    "triangle": triangle,
    "star": star,
    "pentagon": lambda rng: regular_polygon(rng, 5),
    "hexagon": lambda rng: regular_polygon(rng, 6),
    "octagon": lambda rng: regular_polygon(rng, 8),
    "rectangle": rectangle,
    "crescent": crescent,
    "heart": heart,
    "spiral": spiral,
}

#: Classes drawn as an open line rather than a filled polygon.
OPEN_OUTLINES = frozenset({"spiral"})

#: Largest rotation in degrees either way; hearts stay roughly upright, as people draw them.
MAX_ROTATION_DEG: dict[str, float] = {"heart": 35.0}
