"""The message contract v1 between edge agents and central: models, topics, signing, identities.

Both sides import this package; it imports neither (only pydantic and the standard library).
"""

from contract.messages import CONTRACT_VERSION

__all__ = ["CONTRACT_VERSION"]
