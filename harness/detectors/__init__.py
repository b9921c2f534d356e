"""Defect detectors, one module per defect family; see ``base`` for the contract and registry."""

from harness.detectors.base import (
    Detector,
    DetectorSettings,
    available,
    create,
    detectable,
    detector_class,
    detectors_for,
)

__all__ = [
    "Detector",
    "DetectorSettings",
    "available",
    "create",
    "detectable",
    "detector_class",
    "detectors_for",
]
