"""Contains all the data models used in inputs/outputs"""

from .endpoint import Endpoint
from .gateway_message import GatewayMessage
from .health import Health
from .issue_token_token_request import IssueTokenTokenRequest
from .issue_token_token_request_grant_type import IssueTokenTokenRequestGrantType
from .item import Item
from .o_auth_error_body import OAuthErrorBody
from .o_auth_error_body_error import OAuthErrorBodyError
from .problem import Problem
from .token_grant import TokenGrant
from .validation_issue import ValidationIssue
from .whoami_response_whoami import WhoamiResponseWhoami

__all__ = (
    "Endpoint",
    "GatewayMessage",
    "Health",
    "IssueTokenTokenRequest",
    "IssueTokenTokenRequestGrantType",
    "Item",
    "OAuthErrorBody",
    "OAuthErrorBodyError",
    "Problem",
    "TokenGrant",
    "ValidationIssue",
    "WhoamiResponseWhoami",
)
