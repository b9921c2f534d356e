"""Audio-video detectors: A/V sync measured on a test pattern, and LipSync on real content."""
