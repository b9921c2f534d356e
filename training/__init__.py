"""Training code for the learned detectors: builds data from the corpus and the impairment
simulator, trains with torch, evaluates, exports ONNX into ``models/``.

Needs the ``train`` extra (``pip install -e '.[train]'``). ``harness`` never imports this package;
this package imports ``harness`` for the very code the detectors run (front ends, impairments).
"""
