"""The gallery: collections, faces and users of one organization, in Rekognition's shapes.

:class:`Gallery` is the one class callers use (``services.gallery``); it is made of one part
per concern, each in its own module over the shared :class:`~facegate.gallery.core.GalleryCore`
(sessions, FAISS registry, token signer, calibration, model version):

- :mod:`facegate.gallery.collections`: create, describe, list, delete; enrollment defaults
- :mod:`facegate.gallery.faces`: IndexFaces (an :class:`~facegate.gallery.faces.Enrollment`),
  listing, metadata, deletion
- :mod:`facegate.gallery.users`: users and the faces associated with them
- :mod:`facegate.gallery.search`: searches for faces and users

Every method takes the caller's organization id: a collection of another organization is
``ResourceNotFoundException``, exactly like one that does not exist, so existence never leaks.
A method that changes state takes ``record`` (:data:`facegate.audit.log.Record`) and calls it
inside its transaction: the change and its audit record commit together. Methods are
synchronous (SQLAlchemy and FAISS); the service calls them from a thread.
"""

from __future__ import annotations

from facegate.gallery.collections import CollectionOperations
from facegate.gallery.faces import FaceOperations
from facegate.gallery.search import SearchOperations
from facegate.gallery.users import UserOperations


class Gallery(CollectionOperations, FaceOperations, UserOperations, SearchOperations):
    """Collections, faces, users and searches (see the module docstring)."""
