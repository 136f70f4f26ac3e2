"""SOAP envelopes as Exchange Server 2019 writes them, and reading requests.

Responses carry ``ServerVersionInfo`` in the header (exchangelib reads the
server build from it); request-level failures are SOAP faults with HTTP 500
and the EWS error code in ``detail`` (ErrorServerBusy adds
``BackOffMilliseconds`` in ``MessageXml``), per the EWS reference.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

# Exchange Server 2019 CU12; exchangelib maps 15.2 to API version Exchange2016.
SERVER_VERSION = (15, 2, 1118, 7)
SERVER_SCHEMA = "V2017_07_11"


def m(tag: str) -> str:
    return f"{{{MESSAGES_NS}}}{tag}"


def t(tag: str) -> str:
    return f"{{{TYPES_NS}}}{tag}"


class SoapRequestError(Exception):
    """A request that is not a well-formed EWS SOAP call (HTTP 500 schema fault)."""


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: ET.Element
    requested_version: str | None
    impersonated: str | None  # PrimarySmtpAddress of ExchangeImpersonation

    @property
    def name(self) -> str:
        return self.operation.tag.rpartition("}")[2]


def parse_request(body: bytes) -> SoapRequest:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapRequestError(f"The request is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapRequestError("The request is not a SOAP envelope.")
    header = root.find(f"{{{SOAP_NS}}}Header")
    version = None
    impersonated = None
    if header is not None:
        requested = header.find(t("RequestServerVersion"))
        if requested is not None:
            version = requested.get("Version")
        smtp = header.find(
            f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}/{t('PrimarySmtpAddress')}"
        )
        if smtp is not None and smtp.text:
            impersonated = smtp.text.strip()
    body_elem = root.find(f"{{{SOAP_NS}}}Body")
    if body_elem is None or len(body_elem) == 0:
        raise SoapRequestError("The SOAP body is empty.")
    return SoapRequest(body_elem[0], version, impersonated)


def envelope(body_xml: str) -> bytes:
    major, minor, build, revision = SERVER_VERSION
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Header>'
        f'<h:ServerVersionInfo MajorVersion="{major}" MinorVersion="{minor}" '
        f'MajorBuildNumber="{build}" MinorBuildNumber="{revision}" Version="{SERVER_SCHEMA}" '
        f'xmlns:h="{TYPES_NS}" xmlns="{TYPES_NS}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
        '</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"{body_xml}</s:Body></s:Envelope>"
    ).encode()


def response(operation: str, messages: list[str]) -> bytes:
    """``<m:{operation}Response>`` around the response messages."""
    return envelope(
        f'<m:{operation}Response xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}">'
        f"<m:ResponseMessages>{''.join(messages)}</m:ResponseMessages>"
        f"</m:{operation}Response>"
    )


def success(operation: str, inner: str) -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{operation}ResponseMessage>"
    )


def error(operation: str, code: str, text: str) -> str:
    # A failed SyncFolderItems still carries an empty SyncState and
    # IncludesLastItemInRange, as Exchange writes it (exchangelib reads both first).
    sync_tail = (
        "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        if operation == "SyncFolderItems"
        else ""
    )
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{escape(text)}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{sync_tail}"
        f"</m:{operation}ResponseMessage>"
    )


def fault(code: str, text: str, back_off_ms: int | None = None) -> bytes:
    """A SOAP fault as Exchange sends it for request-level errors (HTTP 500)."""
    message_xml = ""
    if back_off_ms is not None:
        message_xml = (
            f'<t:MessageXml xmlns:t="{TYPES_NS}">'
            f'<t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{TYPES_NS}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(text)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{ERRORS_NS}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ERRORS_NS}">{escape(text)}</e:Message>{message_xml}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()


def text_element(tag: str, value: object) -> str:
    return f"<t:{tag}>{escape(str(value))}</t:{tag}>"


def attr(value: str) -> str:
    return quoteattr(value)
