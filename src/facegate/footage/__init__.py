"""FOOTAGE-CONSENT: camera owners, agencies' footage requests, owners' decisions, sharing."""
