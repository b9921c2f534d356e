"""What the simulated device needs: generated content and the look of a real capture path."""
