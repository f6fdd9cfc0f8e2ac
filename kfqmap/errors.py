"""Domain errors of the kfqmap library.

Every error a user can cause (a wrong layer id, a malformed bbox, an unknown CRS, broken GeoJSON, ...)
is a ``KFQMapError`` subclass with a message a planner can act on. No HTTP status codes live here: the
server maps these classes to statuses in ``server/errors.py``; the CLI prints the message and exits 2.
"""
from __future__ import annotations


class KFQMapError(Exception):
    """Base class of every error caused by the caller's input or the data."""

    #: the name of the request parameter or CLI option at fault, when there is one
    parameter: str | None = None

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message)
        self.message = message
        if parameter is not None:
            self.parameter = parameter

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class LayerNotFound(KFQMapError):
    """No layer (collection) with that id in the catalog."""

    parameter = "layer"


class FeatureNotFound(KFQMapError):
    """No feature with that id in the layer."""

    parameter = "featureId"


class InvalidBBox(KFQMapError):
    """A bbox that is not 4 (or 6) finite numbers in the right order and range."""

    parameter = "bbox"


class InvalidCRS(KFQMapError):
    """A coordinate reference system that KFQMap does not accept."""

    parameter = "crs"


class InvalidFilter(KFQMapError):
    """A CQL2 filter that cannot be parsed or names an unknown property."""

    parameter = "filter"


class FilterTimeout(KFQMapError):
    """A CQL2 filter whose evaluation spent its time budget (the filter is valid; the work was too much now)."""

    parameter = "filter"


class InvalidGeometry(KFQMapError):
    """Broken GeoJSON, an invalid or empty geometry, or a geometry of the wrong type."""

    parameter = "geometry"


class InvalidParameter(KFQMapError):
    """Any other out-of-range or malformed parameter (a unit, a distance, a limit, a format...)."""


class TileOutOfRange(KFQMapError):
    """Tile coordinates outside the tile matrix, or a zoom outside the documented range."""

    parameter = "tile"


class RequestTooLarge(KFQMapError):
    """A request whose input or result exceeds the documented bounds."""


class EmptySelection(KFQMapError):
    """A request that selects no feature where at least one is needed (e.g. an export)."""


class DataSourceError(KFQMapError):
    """A layer's data source cannot be used as configured: a malformed connection string, an unknown
    database or role, a missing table, a table without a geometry column (an admin's fix, not the caller's)."""


class StoreUnavailable(DataSourceError):
    """A layer's database cannot be reached right now (down, restarting, refusing connections, timing out)."""


class ReadOnlyLayer(KFQMapError):
    """A write to a layer whose provider cannot change its data (a file layer)."""

    parameter = "collectionId"


class ServerBusy(KFQMapError):
    """Too many heavy requests (map images, exports) are running or waiting: try again in a little while."""

    #: seconds the caller is asked to wait before retrying
    retry_after: int = 10


class WorkTimeout(KFQMapError):
    """A request's work took longer than the configured time limit and was stopped."""


class ImportRejected(KFQMapError):
    """An import whose validation report has errors: nothing was written (the report says what to fix)."""

    parameter = "file"


# ------------------------------------------------------------------ accounts, permissions, edits (issue 13)
class NotAuthenticated(KFQMapError):
    """No (valid) credentials where they are needed: a login, a session or a bearer token is required."""

    parameter = "Authorization"


class Forbidden(KFQMapError):
    """The caller is known but their role (or layer list) does not allow this."""


class CSRFRejected(Forbidden):
    """A state-changing request with a session cookie but without the session's ``X-CSRF-Token`` header."""

    parameter = "X-CSRF-Token"


class TooManyAttempts(KFQMapError):
    """Too many failed logins for one user name from one address: wait before trying again."""

    retry_after: int = 900


class LoginFailed(NotAuthenticated):
    """User name or password wrong (one answer for both: no endpoint tells whether a user exists)."""


class PreconditionRequired(KFQMapError):
    """A change to an existing feature sent without ``If-Match`` (its ETag)."""

    parameter = "If-Match"


class PreconditionFailed(KFQMapError):
    """``If-Match`` names a version of the feature that is no longer current (someone else changed it)."""

    parameter = "If-Match"

    def __init__(self, message: str, *, current_etag: str | None = None, feature_id: str | None = None):
        super().__init__(message)
        self.current_etag = current_etag
        self.feature_id = feature_id


class InvalidFeature(KFQMapError):
    """A feature to be written breaks the layer's rules: its schema (types, required fields, allowed values) or
    its geometry (invalid, wrong type). Unprocessable: the request was understood, its content is refused."""


class HistoryNotFound(KFQMapError):
    """No change with that number in the history of this feature."""

    parameter = "change"
