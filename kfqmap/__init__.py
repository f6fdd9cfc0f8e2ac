"""KFQMap: the Kunshan ETDZ 14th Five-Year Plan as a working GIS library (no HTTP in here)."""
from .catalog import Catalog, load_catalog
from .models import Layer
from .errors import KFQMapError

__version__ = "0.1.0"
__all__ = ["Catalog", "Layer", "KFQMapError", "load_catalog", "__version__"]
