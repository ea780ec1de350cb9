"""Stored video: the video store, frame decoding, face tracking and the job runner."""
