"""Token requests retried with the API's policy, and secrets kept out of every message about them."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import quote, quote_plus

import backoff
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable

    from lorchestra_tapkit.retry import RetryPolicy

T = t.TypeVar("T")
#: Shorter fragments are not redacted: they would mangle ordinary words.
MIN_SECRET_LENGTH = 6
#: Credential parameters of a token request (RFC 6749, RFC 7523), should a body echo one not configured
#: here (a signed JWT assertion is a credential too).
_CREDENTIAL_PARAMETER = re.compile(
    r"\b(client_secret|refresh_token|assertion|client_assertion|access_token|password)=[^&\s\"']+"
)


class TokenRequestError(FatalAPIError):
    """No access token: the endpoint refused the credentials, or kept failing through every retry.

    Fatal on purpose: the stream's own retry loop must not start the token request's retries over.
    """


class Redactor:
    """Replaces every configured secret (and its URL-encoded forms) with ``[redacted]``.

    Token endpoints may echo what they were sent (the client secret, the refresh token, the JWT
    assertion) in an error body; every message built from such a body goes through this.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        fragments: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            # A PEM key is redacted line by line: a body may echo it with its newlines escaped.
            for line in (secret, *secret.splitlines()):
                part = line.strip()
                if len(part) >= MIN_SECRET_LENGTH and not part.startswith("-----"):
                    fragments.update({part, quote(part, safe=""), quote_plus(part)})
        self._fragments = sorted(fragments, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for fragment in self._fragments:
            text = text.replace(fragment, "[redacted]")
        return _CREDENTIAL_PARAMETER.sub(r"\1=[redacted]", text)


def with_retries(
    request: Callable[[], T],
    *,
    policy: RetryPolicy,
    logger: logging.Logger,
    what: str,
) -> T:
    """Call ``request`` until it returns, retrying its ``RetriableAPIError`` with ``policy``.

    ``request`` raises ``RetriableAPIError`` (with the response, for its Retry-After) on 429, 5xx and
    network errors, ``FatalAPIError`` on a refusal. Once the tries are used up, ``TokenRequestError``.

    Raises:
        TokenRequestError: every try failed.
    """
    decorated = backoff.on_exception(
        policy.wait_generator,
        RetriableAPIError,
        max_tries=policy.max_attempts,
        jitter=None,
        on_backoff=lambda details: policy.log_retry(logger, details, what),
    )(request)
    try:
        return decorated()
    except RetriableAPIError as exc:
        msg = f"Gave up {what} after {policy.max_attempts} attempts: {exc}"
        raise TokenRequestError(msg) from None
