"""Drawing one figure image: background, clutter, the figure, pixel noise; and encoding it.

Everything is drawn at :data:`SUPERSAMPLE` times the final size and downsampled with LANCZOS,
which antialiases edges far better than ImageDraw can on its own. Lengths inside this module are
in supersampled pixels unless a name says otherwise.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from synsetlab.synthetic._shapes import MAX_ROTATION_DEG, OPEN_OUTLINES, OUTLINES

#: Drawing scale before the LANCZOS downsample; 3 is as smooth as 4 to the eye at 96 px, and faster.
SUPERSAMPLE = 3
#: Background styles, drawn with equal probability.
BACKGROUNDS = ("flat", "gradient", "stripes", "noise")
#: Figure radius as a share of the image's shorter side (so diameters span 44-84 %).
RADIUS_RANGE = (0.22, 0.42)
#: Standard deviation of the Gaussian pixel noise added after downsampling, in 8-bit levels.
NOISE_SIGMA_RANGE = (2.0, 9.0)
#: Smallest RGB distance wanted between figure and background base colour; a few retries only,
#: so low-contrast figures still occur now and then, as in real photos.
MIN_CONTRAST = 80.0

Colour = tuple[int, int, int]


def jittered_size(
    nominal: tuple[int, int], jitter: float, rng: np.random.Generator
) -> tuple[int, int]:
    """(width, height) in pixels: each side of ``nominal`` scaled by U(1 - jitter, 1 + jitter)."""
    scale = rng.uniform(1.0 - jitter, 1.0 + jitter, 2) if jitter > 0 else np.ones(2)
    return round(float(nominal[0] * scale[0])), round(float(nominal[1] * scale[1]))


def render_figure(name: str, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """An RGB image of ``size`` (width, height) pixels showing one figure of class ``name``."""
    big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
    unit = float(min(big))  # one "unit" is the shorter side, so figures scale with the image
    canvas, base = _background(big, rng)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 4))):
        _clutter(draw, big, unit, rng)
    points, radius = _place(OUTLINES[name](rng), name, big, unit, rng)
    paint_figure(draw, name, points, radius, base, rng)
    if rng.random() < 0.3:  # clutter in front sometimes occludes part of the figure
        _clutter(draw, big, unit, rng)
    small = canvas.resize(size, Image.Resampling.LANCZOS)
    return _add_noise(small, rng)


def encode(image: Image.Image, fmt: str, *, quality: int = 90) -> bytes:
    """``image`` as ``"JPEG"`` (at ``quality``, 1-95) or ``"PNG"`` bytes; no metadata, so
    the same pixels always give the same bytes."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, "JPEG", quality=quality)
    elif fmt == "PNG":
        image.save(buf, "PNG")
    else:
        raise ValueError(f"unknown image format {fmt!r}; expected 'JPEG' or 'PNG'")
    return buf.getvalue()


def _colour(values: np.ndarray) -> Colour:
    r, g, b = (int(v) for v in np.clip(np.rint(values), 0, 255))
    return r, g, b


def _background(size: tuple[int, int], rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    """A background image and its base colour (for choosing a contrasting figure colour)."""
    width, height = size
    base = rng.uniform(0, 255, 3)
    other = np.clip(base + rng.normal(0, 60, 3), 0, 255)
    style = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    if style == "flat":
        return Image.new("RGB", size, _colour(base)), base
    if style == "noise":
        # Low-frequency texture: a coarse random grid blown up smoothly.
        cells = base + rng.normal(0, 45, (int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3))
        grid = Image.fromarray(np.clip(cells, 0, 255).astype(np.uint8))
        return grid.resize(size, Image.Resampling.BICUBIC), base
    theta = rng.uniform(0, 2 * np.pi)
    # Both styles are functions of the distance along a direction, x cos + y sin: built from
    # a row and a column that broadcast, in float32, as this is the generator's hottest code.
    xs = np.arange(width, dtype=np.float32)[None, :, None] * np.float32(np.cos(theta))
    ys = np.arange(height, dtype=np.float32)[:, None, None] * np.float32(np.sin(theta))
    if style == "gradient":
        span = max(abs(width * np.cos(theta)) + abs(height * np.sin(theta)), 1.0)
        step = ((other - base) / span).astype(np.float32)
        offset = float(min(0.0, width * np.cos(theta)) + min(0.0, height * np.sin(theta)))
        start = (base - offset * (other - base) / span).astype(np.float32)
        pixels = (xs * step + (ys * step + start)).astype(np.uint8)
    else:  # stripes, with hard edges that the downsample antialiases
        period = np.float32(rng.uniform(0.08, 0.3) * min(size))
        phase = (xs[..., 0] + ys[..., 0]) / period
        mask = (phase - np.floor(phase)) < rng.uniform(0.3, 0.7)
        colours = np.array([_colour(base), _colour(other)], dtype=np.uint8)
        pixels = colours.take(mask.view(np.uint8), axis=0)  # (height, width, 3); beats np.where
    return Image.fromarray(pixels), base


def _contrasting_colour(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    colour = rng.uniform(0, 255, 3)
    for _ in range(4):
        if np.linalg.norm(colour - base) >= MIN_CONTRAST:
            break
        colour = rng.uniform(0, 255, 3)
    return colour


def _place(
    points: np.ndarray, name: str, size: tuple[int, int], unit: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Scale, squash, rotate and position unit ``points``; returns them and the radius used."""
    radius = rng.uniform(*RADIUS_RANGE) * unit
    # Mostly centred, as in photos; at most a fifth of the radius may leave the frame.
    return transform_outline(points, name, radius, size, unit, rng), radius


def transform_outline(
    points: np.ndarray,
    name: str,
    radius: float,
    size: tuple[int, int],
    unit: float,
    rng: np.random.Generator,
    *,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Unit ``points`` squashed, rotated, scaled to ``radius`` and moved to ``centre``.

    Without ``centre`` the figure sits near the middle of ``size`` (normal offset of 8 % of
    ``unit``), clipped so that at most a fifth of the radius leaves the frame.
    """
    max_rotation = MAX_ROTATION_DEG.get(name, 180.0)
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    squash = rng.uniform(0.88, 1.12, 2)  # mild anisotropy: no two circles are quite round
    if centre is None:
        centre = np.asarray(size, dtype=float) / 2 + rng.normal(0, 0.08 * unit, 2)
        margin = 0.8 * radius
        centre = np.clip(centre, margin, np.asarray(size) - margin)
    return (points * squash) @ rotation.T * radius + centre


def paint_figure(
    draw: ImageDraw.ImageDraw,
    name: str,
    points: np.ndarray,
    radius: float,
    base: np.ndarray,
    rng: np.random.Generator,
) -> float:
    """Draw the placed outline ``points`` of class ``name`` in a colour contrasting with
    ``base``: filled, filled and outlined, hollow, or (open outlines) as a line.

    Returns how far the stroke may reach outside the outline, in the canvas's pixels: half the
    line width of a line, the whole width of a polygon's outline (0 for a plain fill).
    """
    xy = points.ravel().tolist()
    fill = _colour(_contrasting_colour(base, rng))
    if name in OPEN_OUTLINES:
        width = max(1, round(rng.uniform(0.05, 0.1) * radius))
        draw.line(xy, fill=fill, width=width, joint="curve")
        return width / 2
    style = rng.random()
    if style < 0.15:  # hollow: outline only
        width = max(1, round(rng.uniform(0.06, 0.12) * radius))
        draw.polygon(xy, outline=fill, width=width)
        return 0.0
    if style < 0.55:  # filled, with an outline in another colour
        outline = _colour(rng.uniform(0, 255, 3))
        width = int(rng.integers(1, 4)) * SUPERSAMPLE
        draw.polygon(xy, fill=fill, outline=outline, width=width)
        return 0.0
    draw.polygon(xy, fill=fill)
    return 0.0


def _clutter(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], unit: float, rng: np.random.Generator
) -> None:
    """One small distractor: a line, a blob, an arc or a scribble, well below figure size."""
    colour = _colour(rng.uniform(0, 255, 3))
    x, y = rng.uniform(0, 1, 2) * np.asarray(size)
    extent = rng.uniform(0.04, 0.15) * unit
    width = max(1, round(rng.uniform(0.006, 0.02) * unit))
    kind = int(rng.integers(4))
    if kind == 0:
        angle = rng.uniform(0, 2 * np.pi)
        dx, dy = np.cos(angle) * extent, np.sin(angle) * extent
        draw.line([x - dx, y - dy, x + dx, y + dy], fill=colour, width=width)
    elif kind == 1:
        rx, ry = extent * rng.uniform(0.2, 0.5, 2)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=colour)
    elif kind == 2:
        start = rng.uniform(0, 360)
        bbox = [x - extent, y - extent, x + extent, y + extent]
        draw.arc(bbox, start, start + rng.uniform(40, 200), fill=colour, width=width)
    else:
        steps = rng.normal(0, extent / 2, (4, 2))
        path = np.cumsum(steps, axis=0) + np.array([x, y])
        draw.line(path.ravel().tolist(), fill=colour, width=width, joint="curve")


def _add_noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    sigma = np.float32(rng.uniform(*NOISE_SIGMA_RANGE))
    pixels = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * sigma
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
