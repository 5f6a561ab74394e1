"""The framework's error hierarchy; adapters translate library errors into these at the boundary."""

from __future__ import annotations


class BindyLoadError(Exception):
    """Base of every error the framework raises on purpose."""


class ProfileError(BindyLoadError):
    """A profile, option, ini or environment value is invalid; the message is one line."""


class TargetError(BindyLoadError):
    """The target (local stack or named cluster) is missing, unreachable or not bindy-shaped."""


class ProvisionError(TargetError):
    """A local-stack binary could not be built or found; the message says what to install."""


class OperationError(BindyLoadError):
    """An operation failed in a way its caller asked to be raised rather than recorded."""


class DeadlineExceeded(BindyLoadError):
    """A wait ran past its deadline."""


class ReportError(BindyLoadError, ValueError):
    """A report file (e.g. a baseline) is unreadable or not a report of this schema; one line."""
