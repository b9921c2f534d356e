"""Defect simulation with exact ground truth (see ``base`` for the contract).

Used by the simulated device (scripted faults), by the tests, and by the training code.
"""
