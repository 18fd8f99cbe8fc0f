"""singer-sdk's standard tap suite, wired the same way for every tap: against a sandbox, failing on no data."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.core import serve
from singer_sdk.testing import SuiteConfig, get_tap_test_class

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.core import ProviderApp, RunningApp
    from singer_sdk import Tap

#: A template test that found no records would pass while testing nothing: that warning fails the test instead.
NO_RECORDS_IS_A_FAILURE = pytest.mark.filterwarnings("error:No records were available to test:UserWarning")
#: Likewise a selected field that is in none of the records.
UNFILLED_FIELD_IS_A_FAILURE = pytest.mark.filterwarnings(
    "error:Fields in transformed catalog but not in records:UserWarning"
)


def standard_tap_tests(
    tap_class: type[Tap],
    create_app: Callable[[], ProviderApp],
    config: Callable[[RunningApp], dict[str, t.Any]],
    *,
    max_records_limit: int | None,
    unfilled_fields_reason: str = "",
) -> type:
    """The SDK's tap, stream and attribute test classes in one, run against a sandbox served for the session.

    The suite is parametrized from the tap's streams (and a Dataverse tap reads its schemas from the table
    metadata) when the test module is imported, so the sandbox starts here, at import: a loopback daemon
    thread, gone with the test process. ``config(running)`` is the tap's config for it.

    A schema field that no record of the sample fills fails the suite, unless ``unfilled_fields_reason`` says
    why the tap's schema has fields a record may lack (then the SDK's warning stays a warning).
    """
    running = serve(create_app())
    suite = get_tap_test_class(
        tap_class,
        config=config(running),
        parse_env_config=False,
        suite_config=SuiteConfig(max_records_limit=max_records_limit),
    )
    suite = NO_RECORDS_IS_A_FAILURE(suite)
    return suite if unfilled_fields_reason else UNFILLED_FIELD_IS_A_FAILURE(suite)
