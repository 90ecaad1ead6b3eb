"""A fake Slack Web API for tests, and the Block Kit validator it enforces.

``FakeSlack`` is a stdlib HTTP server on 127.0.0.1 (a free port) serving ``/api/<method>`` the way
slack.com does: it checks the bot token, records every call, rejects payloads over Slack's limits
(``validate_blocks``), answers 429 with Retry-After when told to, and implements
``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``conversations.open``, ``users.info``, ``users.lookupByEmail``, ``views.open`` (trigger ids
expire after 3 s and are single-use) and ``views.publish`` (App Home, kept in ``home_views``).
``apps.connections.open`` (with the app-level token) answers ``socket_url``, served by
``FakeSocketMode``. Point a client's base URL at ``fake.base_url``. ``sign_slack_request`` signs a
body for posting to our own ``/slack/events`` the way Slack does.

Usage::

    with FakeSlack(users=[SlackUser("U1", "bob", email="bob@example.com")]) as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.base_url)
        ...
        assert fake.calls_to("chat.update")[-1].params["blocks"] == ...
"""

from tests.support.fake_slack.limits import validate_blocks
from tests.support.fake_slack.server import FakeSlack, RecordedCall, SlackUser, sign_slack_request
from tests.support.fake_slack.socket_mode import FakeSocketMode

__all__ = [
    "FakeSlack",
    "FakeSocketMode",
    "RecordedCall",
    "SlackUser",
    "sign_slack_request",
    "validate_blocks",
]
