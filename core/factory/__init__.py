"""factory/: Data Factory's own git format, read, validated and shaped for azure-native (no Pulumi resources).

- ``load_factory(factory_dir, config, job_names=..., relative_to=...) -> FactoryFolder`` (raises UserError)
- ``owned_linked_services(config)``: the program's Key Vault and Databricks linked services as ADF JSON
"""

from core.factory.kinds import KINDS, Kind
from core.factory.linked_services import OWNED_ANNOTATION, OwnedLinkedService, owned_linked_services
from core.factory.loader import FactoryFolder, FactoryObject, load_factory
from core.factory.overrides import Placeholder, Template

__all__ = [
    "KINDS",
    "OWNED_ANNOTATION",
    "FactoryFolder",
    "FactoryObject",
    "Kind",
    "OwnedLinkedService",
    "Placeholder",
    "Template",
    "load_factory",
    "owned_linked_services",
]
