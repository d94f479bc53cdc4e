"""A client library for accessing FastAPI on AWS Lambda"""

from .client import AuthenticatedClient, Client

__all__ = (
    "AuthenticatedClient",
    "Client",
)
