"""Adversarial tests: attacks and faults with their expected safe outcome."""
