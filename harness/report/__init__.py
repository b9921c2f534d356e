"""Evidence for humans: Allure attachments built from playback reports (events and evidence only).

Nothing here is imported by the capture, pipeline or detectors; the pytest plugin loads it only
when Allure results are being written.
"""
