"""Describe frames from their pixels: the anchor task (one frame) and the residual task (a window).

Anchor: brightness, dominant colours overall and per zone, faces (Haar cascade) and people (HOG
detector) that OpenCV ships, and salient regions (colour blobs that stand out from the background).
Residual, per adjacent pair of the window:
- camera motion: dense optical flow (Farneback); a coherent global shift is a pan/tilt, a radial
  field a zoom;
- object motion: the window's per-pixel median is the background (static camera); foreground blobs
  are matched between frames by colour and distance; displacement gives direction, zones and speed;
- discrete events: blobs that appear or disappear; attribute changes: brightness or a zone's colour
  changing without motion;
- otherwise `none`.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from codecvdc_assets.models.embedded.colours import dominant, mean_colour_name, name_map
from codecvdc_assets.models.embedded.spatial import ZONES, direction_of, position, zone_of

WORK_WIDTH = 320  # analysis width: detail enough for blobs, cheap enough for CI


@dataclass(frozen=True)
class Blob:
    x: float  # centroid, fraction of width
    y: float
    area: float  # fraction of the frame
    colour: str
    w: float
    h: float


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("image is not a decodable JPEG/PNG")
    return image


def work_size(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= WORK_WIDTH:
        return image
    return cv2.resize(image, (WORK_WIDTH, max(2, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)


# One detector per thread: OpenCV's CascadeClassifier keeps per-call state, and one instance shared by the
# threads of the loopback server or the embedded backend gave different answers for the same frame.
_detectors = threading.local()


def _face_detector() -> cv2.CascadeClassifier:
    if not hasattr(_detectors, "face"):
        detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if detector.empty():
            raise RuntimeError("OpenCV's bundled Haar cascade is missing (needs opencv-python-headless < 5)")
        _detectors.face = detector
    return _detectors.face


def _people_detector() -> cv2.HOGDescriptor:
    if not hasattr(_detectors, "people"):
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _detectors.people = hog
    return _detectors.people


def detect_faces(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Faces as (x, y, w, h) fractions."""
    small = _resize_max(image, 640)
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    h, w = gray.shape
    found = _face_detector().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(max(20, w // 40),) * 2)
    return [(x / w, y / h, fw / w, fh / h) for (x, y, fw, fh) in (found if len(found) else [])]


def detect_people(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    small = _resize_max(image, 480)
    h, w = small.shape[:2]
    if h < 128 or w < 64:
        return []
    rects, weights = _people_detector().detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.08)
    keep = [r for r, wt in zip(rects, np.ravel(weights), strict=False) if wt > 0.6]
    return [(x / w, y / h, rw / w, rh / h) for (x, y, rw, rh) in _suppress(keep)]


def salient_blobs(image: np.ndarray, max_blobs: int = 4) -> list[Blob]:
    """Regions whose colour stands out from the frame's dominant background colour."""
    work = work_size(image)
    lab = cv2.cvtColor(work, cv2.COLOR_BGR2LAB).astype(np.float32)
    background = np.median(lab.reshape(-1, 3), axis=0)
    distance = np.linalg.norm(lab - background, axis=2)
    mask = (distance > max(25.0, float(np.percentile(distance, 60)) * 2.0)).astype(np.uint8)
    return _blobs(mask, work, max_blobs)


def foreground_blobs(frame: np.ndarray, background: np.ndarray, max_blobs: int = 4) -> list[Blob]:
    diff = cv2.absdiff(frame, background).max(axis=2)
    mask = (diff > 40).astype(np.uint8)
    # A slow object overlaps itself across a short window and leaks into the median background; where it
    # has moved on, the frame shows true background there: a "ghost" in the frame's dominant colour.
    scene_colour = dominant(name_map(frame), 1)[0][0]
    return [b for b in _blobs(mask, frame, max_blobs + 2) if b.colour != scene_colour][:max_blobs]


def _blobs(mask: np.ndarray, image: np.ndarray, max_blobs: int) -> list[Blob]:
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    blobs = []
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA] / (h * w)
        if area < 0.002 or area > 0.6:
            continue
        colour = mean_colour_name(image[labels == i])
        blobs.append(
            Blob(
                centroids[i][0] / w,
                centroids[i][1] / h,
                area,
                colour,
                stats[i, cv2.CC_STAT_WIDTH] / w,
                stats[i, cv2.CC_STAT_HEIGHT] / h,
            )
        )
    return sorted(blobs, key=lambda b: -b.area)[:max_blobs]


# ---------------------------------------------------------------------------------------- anchor


# The same frame is described by several tasks (anchor, per-second, LongCaption-Agent's frames, direct):
# remember recent descriptions by pixel content, so a run pays the detectors once per frame.
_MEMO: OrderedDict[bytes, dict] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 1024


def describe_frame(image: np.ndarray) -> dict:
    """The anchor answer: an exhaustive description and its entities (memoized by pixel content)."""
    key = hashlib.blake2b(image.tobytes(), digest_size=16, person=str(image.shape).encode()[:16]).digest()
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return copy.deepcopy(_MEMO[key])
    found = _describe_frame(image)
    with _MEMO_LOCK:
        _MEMO[key] = copy.deepcopy(found)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return found


def _describe_frame(image: np.ndarray) -> dict:
    work = work_size(image)
    names = name_map(work)
    hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
    brightness = float(hsv[..., 2].mean()) / 255
    light = (
        "dark"
        if brightness < 0.25
        else "dimly lit"
        if brightness < 0.45
        else "bright"
        if brightness > 0.7
        else "evenly lit"
    )
    edges = float((cv2.Canny(cv2.cvtColor(work, cv2.COLOR_BGR2GRAY), 80, 160) > 0).mean())
    texture = (
        "highly detailed, textured" if edges > 0.12 else "moderately detailed" if edges > 0.04 else "plain, smooth"
    )
    top = dominant(names, 3)
    sentences = [
        f"{'An' if light[0] in 'aeiou' else 'A'} {light} scene with {texture} surfaces; colours: "
        + ", ".join(f"{n} ({round(100 * s)}%)" for n, s in top if s >= 0.01)
        + "."
    ]
    h, w = names.shape
    layout = []
    for r, row in enumerate(ZONES):
        for c, zone in enumerate(row):
            cell = names[r * h // 3 : (r + 1) * h // 3, c * w // 3 : (c + 1) * w // 3]
            colour, share = dominant(cell, 1)[0]
            layout.append(f"{zone} mostly {colour}" + ("" if share > 0.6 else " with mixed colours"))
    sentences.append("Layout: " + "; ".join(layout) + ".")
    entities: list[dict] = []
    for fx, fy, fw, fh in detect_faces(image):
        cx, cy = fx + fw / 2, fy + fh / 2
        entities.append(_entity("face", cx, cy, fw * fh, ["frontal"]))
    for px, py, pw, ph in detect_people(image):
        cx, cy = px + pw / 2, py + ph / 2
        entities.append(_entity("person", cx, cy, pw * ph, ["standing" if ph > 1.8 * pw else "upright"]))
    for blob in salient_blobs(image):
        shape = (
            "square"
            if 0.75 < (blob.w * w) / max(blob.h * h, 1) < 1.33
            else "wide"
            if blob.w * w > blob.h * h
            else "tall"
        )
        size = "small" if blob.area < 0.02 else "medium" if blob.area < 0.1 else "large"
        entities.append(_entity(f"{blob.colour} object", blob.x, blob.y, blob.area, [size, shape]))
    faces = sum(e["label"] == "face" for e in entities)
    people = sum(e["label"] == "person" for e in entities)
    sentences.append(f"{faces} face(s) and {people} person(s) detected.")
    for e in entities:
        sentences.append(f"A {', '.join(e['attributes'])} {e['label']} at {e['position']}.")
    return {"caption": " ".join(sentences), "entities": entities}


def _entity(label: str, x: float, y: float, area: float, attributes: list[str]) -> dict:
    return {
        "label": label,
        "zone": zone_of(x, y),
        "position": position(x, y),
        "x": round(x, 3),
        "y": round(y, 3),
        "area": round(float(area), 4),
        "attributes": attributes,
    }


# ---------------------------------------------------------------------------------------- residual


def camera_motion(prev: np.ndarray, cur: np.ndarray) -> tuple[str | None, float, float, float]:
    """(kind, dx, dy, zoom): kind is 'pan'/'tilt'/'zoom' or None; dx, dy in fractions of the frame."""
    a = cv2.cvtColor(_resize_max(prev, 160), cv2.COLOR_BGR2GRAY)
    b = cv2.cvtColor(_resize_max(cur, 160), cv2.COLOR_BGR2GRAY)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 3, 5, 1.1, 0)
    h, w = a.shape
    fx, fy = flow[..., 0], flow[..., 1]
    mdx, mdy = float(np.median(fx)), float(np.median(fy))
    ys, xs = np.mgrid[0:h, 0:w]
    rx, ry = xs - w / 2, ys - h / 2
    norm = np.sqrt(rx**2 + ry**2) + 1e-6
    radial = float(np.median(((fx - mdx) * rx + (fy - mdy) * ry) / norm)) / (min(w, h) / 2)
    coherent = float((np.hypot(fx - mdx, fy - mdy) < 1.0).mean())
    dx, dy = mdx / w, mdy / h
    if abs(radial) > 0.02 and abs(dx) < 0.02 and abs(dy) < 0.02:
        return "zoom", dx, dy, radial
    if coherent > 0.5 and max(abs(dx), abs(dy)) > 0.015:
        return ("pan" if abs(dx) >= abs(dy) else "tilt"), dx, dy, radial
    return None, dx, dy, radial


def describe_window(images: list[np.ndarray], first_index: int = 0, entities: list[dict] | None = None) -> list[dict]:
    """One residual per adjacent pair of `images` (frame_pair indices start at `first_index`); with the
    anchor's `entities` (label, zone), a moving or changing region is named as the anchor named it."""
    work = [work_size(im) for im in images]
    shapes = {im.shape for im in work}
    if len(shapes) > 1:  # mixed sizes: bring all to the first one
        work = [cv2.resize(im, (work[0].shape[1], work[0].shape[0])) for im in work]
    background = np.median(np.stack(work), axis=0).astype(np.uint8) if len(work) >= 3 else None
    out = []
    for i in range(len(work) - 1):
        pair = (first_index + i, first_index + i + 1)
        out.append(describe_pair(work[i], work[i + 1], background, pair, entities))
    return out


def anchor_label(zone: str, colour: str, entities: list[dict] | None, moving: bool = True) -> str | None:
    """The anchor entity a region is: one of this colour in the same zone; for a region that moves
    (was there before), a person or face in that zone, else one of this colour elsewhere (it has moved
    since the anchor). A region of another colour is never given a colour-named entity's label."""
    if not entities:
        return None
    named = [e for e in entities if e.get("label")]
    here = [e for e in named if e.get("zone") == zone]
    for e in here:
        if colour in str(e["label"]).split():
            return str(e["label"])
    if not moving:
        return None
    for e in here:
        if not str(e["label"]).endswith(" object"):  # face, person: detected by shape, not colour
            return str(e["label"])
    for e in named:
        if colour in str(e["label"]).split():
            return str(e["label"])
    return None


def describe_pair(
    prev: np.ndarray,
    cur: np.ndarray,
    background: np.ndarray | None,
    pair: tuple[int, int],
    entities: list[dict] | None = None,
) -> dict:
    none = {
        "frame_pair": list(pair),
        "delta_caption": "No visible change.",
        "change_type": "none",
        "subject": "none",
        "zone_from": "none",
        "zone_to": "none",
        "direction": "none",
    }
    if float(cv2.absdiff(prev, cur).mean()) < 1.5:
        return none
    kind, dx, dy, zoom = camera_motion(prev, cur)
    if kind == "zoom":
        way = "in" if zoom > 0 else "out"
        return {
            **none,
            "delta_caption": f"The camera zooms {way}.",
            "change_type": "camera",
            "subject": "camera",
            "direction": "toward camera" if zoom > 0 else "away from camera",
        }
    if kind:
        # Content moving right means the camera turns left, and vice versa.
        cam = direction_of(-dx, -dy)
        verb = "pans" if kind == "pan" else "tilts"
        return {
            **none,
            "delta_caption": f"The camera {verb} {cam}.",
            "change_type": "camera",
            "subject": "camera",
            "direction": cam,
        }
    events = _object_events(prev, cur, background, entities)
    if events:
        return {"frame_pair": list(pair), **events[0]}
    # Attribute changes: brightness, or a zone's dominant colour changing with no motion.
    b0 = float(cv2.cvtColor(prev, cv2.COLOR_BGR2HSV)[..., 2].mean())
    b1 = float(cv2.cvtColor(cur, cv2.COLOR_BGR2HSV)[..., 2].mean())
    if abs(b1 - b0) > 20:
        word = "brighter" if b1 > b0 else "darker"
        return {
            **none,
            "delta_caption": f"The scene gets {word}.",
            "change_type": "attribute",
            "subject": "scene",
        }
    zone_change = _zone_colour_change(prev, cur)
    if zone_change:
        zone, before, after = zone_change
        return {
            **none,
            "delta_caption": f"The {zone} area changes from {before} to {after}.",
            "change_type": "attribute",
            "subject": f"{zone} area",
            "zone_from": zone,
            "zone_to": zone,
        }
    return none


def _object_events(
    prev: np.ndarray, cur: np.ndarray, background: np.ndarray | None, entities: list[dict] | None = None
) -> list[dict]:
    if background is not None:
        a, b = foreground_blobs(prev, background), foreground_blobs(cur, background)
    else:
        diff_mask = (cv2.absdiff(prev, cur).max(axis=2) > 40).astype(np.uint8)
        a, b = _blobs(diff_mask, prev, 4), _blobs(diff_mask, cur, 4)
    events = []
    used: set[int] = set()
    for blob in a:
        match = None
        for j, other in enumerate(b):
            if j in used or other.colour != blob.colour:
                continue
            if match is None or _dist(blob, other) < _dist(blob, b[match]):
                match = j
        z0 = zone_of(blob.x, blob.y)
        name = anchor_label(z0, blob.colour, entities) or f"{blob.colour} object"
        if match is None:
            events.append(
                (
                    blob.area,
                    {
                        "delta_caption": f"The {name} at {z0} disappears.",
                        "change_type": "discrete",
                        "subject": name,
                        "zone_from": zone_of(blob.x, blob.y),
                        "zone_to": "none",
                        "direction": "none",
                    },
                )
            )
            continue
        used.add(match)
        other = b[match]
        dx, dy = other.x - blob.x, other.y - blob.y
        if max(abs(dx), abs(dy)) < 0.02:
            continue
        way = direction_of(dx, dy)
        z1 = zone_of(other.x, other.y)
        speed = np.hypot(dx, dy)
        pace = "quickly" if speed > 0.2 else "slowly" if speed < 0.05 else "steadily"
        where = f"from {z0} to {z1}" if z0 != z1 else f"within {z0}"
        events.append(
            (
                blob.area + speed,
                {
                    "delta_caption": f"The {name} moves {way} {pace} {where}.",
                    "change_type": "continuous",
                    "subject": name,
                    "zone_from": z0,
                    "zone_to": z1,
                    "direction": way,
                },
            )
        )
    for j, other in enumerate(b):
        if j not in used:
            z = zone_of(other.x, other.y)
            name = anchor_label(z, other.colour, entities, moving=False) or f"{other.colour} object"
            events.append(
                (
                    other.area,
                    {
                        "delta_caption": f"A {name} appears at {z}.",
                        "change_type": "discrete",
                        "subject": name,
                        "zone_from": "none",
                        "zone_to": z,
                        "direction": "none",
                    },
                )
            )
    return [e for _, e in sorted(events, key=lambda item: -item[0])]


def _zone_colour_change(prev: np.ndarray, cur: np.ndarray) -> tuple[str, str, str] | None:
    n0, n1 = name_map(prev), name_map(cur)
    h, w = n0.shape
    for r, row in enumerate(ZONES):
        for c, zone in enumerate(row):
            sl = (slice(r * h // 3, (r + 1) * h // 3), slice(c * w // 3, (c + 1) * w // 3))
            (c0, s0), (c1, s1) = dominant(n0[sl], 1)[0], dominant(n1[sl], 1)[0]
            if c0 != c1 and s0 > 0.5 and s1 > 0.5:
                return zone, c0, c1
    return None


def _dist(a: Blob, b: Blob) -> float:
    return float(np.hypot(a.x - b.x, a.y - b.y))


def _resize_max(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _suppress(rects: list) -> list:
    """Drop rectangles mostly inside a bigger kept one (HOG returns nested hits)."""
    kept: list = []
    for r in sorted(rects, key=lambda r: -r[2] * r[3]):
        x, y, w, h = r
        if all(
            not (x >= k[0] - 8 and y >= k[1] - 8 and x + w <= k[0] + k[2] + 8 and y + h <= k[1] + k[3] + 8)
            for k in kept
        ):
            kept.append(r)
    return kept


# ---------------------------------------------------------------------------------------- baselines


def describe_video(images: list[np.ndarray]) -> str:
    """The direct-captioning baseline: one holistic caption from uniformly sampled frames."""
    opening = describe_frame(images[0])["caption"]
    first = opening.split(". Layout:")[0].rstrip(".") + "."
    changes = [r["delta_caption"] for r in describe_window(images) if r["change_type"] != "none"]
    unique = list(dict.fromkeys(changes))
    summary = f" Over the video: {' '.join(unique[:6])}" if unique else " Little changes over the video."
    return f"The video shows {first[0].lower() + first[1:]}{summary}"


def describe_clip(images: list[np.ndarray]) -> str:
    """LongCaption-Agent's clip level: how the clip opens, what changes in it, how it ends."""
    opening = describe_frame(images[0])["caption"].split(". Layout:")[0].rstrip(".")
    changes = list(dict.fromkeys(r["delta_caption"] for r in describe_window(images) if r["change_type"] != "none"))
    parts = [f"It opens on {opening[0].lower() + opening[1:]}."]
    parts.append(" ".join(changes[:6]) if changes else "Nothing visible changes.")
    if len(images) > 1:
        closing = describe_frame(images[-1])["caption"].split(". Layout:")[0].rstrip(".")
        if closing != opening:
            parts.append(f"It ends on {closing[0].lower() + closing[1:]}.")
    return " ".join(parts)


def describe_second(images: list[np.ndarray]) -> str:
    """The per-second baseline: a full description of the window's frame plus what changes in it,
    re-described from scratch every second (redundant by design)."""
    caption = describe_frame(images[0])["caption"]
    if len(images) > 1:
        delta = describe_pair(work_size(images[0]), work_size(images[1]), None, (0, 1))
        if delta["change_type"] != "none":
            caption += " " + delta["delta_caption"]
    return caption
