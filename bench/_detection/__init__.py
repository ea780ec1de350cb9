"""The parts of bench/detection.py: the London faces' true boxes, the evaluation set built from
them, the detectors measured, the matching rule and the report."""
