"""Every error mace-core raises on purpose derives from :class:`MaceError`.

Each message says what went wrong, where (file, node, input) and what to do about it.
The CLI prints these messages without a traceback and exits with status 2.
"""

from __future__ import annotations


class MaceError(Exception):
    """Base class of all mace-core errors."""


class ModelFormatError(MaceError):
    """A model file is corrupt, truncated, from another model, or of an unknown version."""


class ValidationError(MaceError):
    """A graph is malformed: a node's inputs, attributes or shapes break its op schema."""


class UnsupportedOpError(MaceError):
    """One or more ops have no schema (converter) or no kernel on any allowed device."""


class InputError(MaceError):
    """Inputs given to ``Session.run`` do not match the model (names, shapes, dtypes)."""


class DeviceUnavailable(MaceError):
    """Raised by ``Device.probe`` when the device cannot be used here; the message says why."""


class PluginError(MaceError):
    """A plugin registered something inconsistent (duplicate op, kernel for an unknown op...)."""


class ConversionError(MaceError):
    """A source model could not be converted."""
