"""Lakehouse jobs: landing → bronze → silver (this issue); later gold, publish and maintenance."""
