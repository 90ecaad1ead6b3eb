"""``airlock login|logout|whoami``, ``airlock service-account create|rotate|disable|list`` and
``airlock revoke subject|token``: identity at the command line, over the HTTP API.

``login`` signs in at the OIDC issuer the gateway names (``GET /oauth/login-config`` at
``AIRLOCK_URL``; or ``--issuer`` and ``--client-id``) and caches the token (0600) for the other
commands, which use it when ``AIRLOCK_TOKEN`` is unset. The rest need an admin's token.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from gateway.cli.client import DEFAULT_URL, ApiClient, ClientError
from gateway.errors import UsageError

if TYPE_CHECKING:  # `login` imports them itself: the other commands start without them
    import httpx

    from gateway.identity.login import LoginConfig

__all__ = ["add_commands"]


def _client() -> ApiClient:
    return ApiClient.from_env()


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


# -- login ------------------------------------------------------------------------------------


def _login_config(args: argparse.Namespace, http: httpx.Client) -> LoginConfig:
    import httpx  # noqa: PLC0415

    from gateway.identity.login import LoginConfig  # noqa: PLC0415

    if args.issuer:
        if not args.client_id:
            raise UsageError("--issuer needs --client-id")
        return LoginConfig(args.issuer, args.client_id, args.audience or args.client_id)
    url = (os.environ.get("AIRLOCK_URL") or DEFAULT_URL).rstrip("/")
    try:
        response = http.get(f"{url}/oauth/login-config")
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach the gateway at {url}: {exc}") from exc
    if response.status_code == 404:
        raise UsageError(f"the gateway at {url} accepts no OIDC sign-in ([identity] issuer)")
    if not response.is_success:
        raise ClientError(f"{url}/oauth/login-config answered {response.status_code}")
    data: dict[str, Any] = response.json()
    return LoginConfig(
        data["issuer"], data["client_id"], data.get("audience"), tuple(data.get("scopes", ()))
    )


def cmd_login(args: argparse.Namespace) -> int:
    import httpx  # noqa: PLC0415

    from gateway.identity.login import discover, login_device, login_pkce  # noqa: PLC0415
    from gateway.identity.token_cache import save_cache  # noqa: PLC0415

    with httpx.Client(timeout=15, follow_redirects=True) as http:
        config = _login_config(args, http)
        metadata = discover(config.issuer, http)
        if args.device:
            entry = login_device(config, metadata, http, say=print)
        else:
            import webbrowser  # noqa: PLC0415  (`login` alone opens a browser)

            opener = (lambda _url: False) if args.no_browser else webbrowser.open
            entry = login_pkce(config, metadata, open_browser=opener, say=print)
    path = save_cache(entry)
    print(f"airlock: signed in at {config.issuer}; token cached in {path}")
    return 0


def cmd_logout(_args: argparse.Namespace) -> int:
    from gateway.identity.token_cache import cache_path  # noqa: PLC0415

    path = cache_path()
    path.unlink(missing_ok=True)
    print(f"airlock: removed {path}")
    return 0


def cmd_whoami(_args: argparse.Namespace) -> int:
    with _client() as api:
        print(json.dumps(api.call("GET", "/v1/whoami"), indent=2))
    return 0


# -- service accounts and revocations ---------------------------------------------------------


def _account_line(account: dict[str, Any]) -> str:
    state = "disabled" if account.get("disabled_at") else "active"
    scope = ",".join(account["scope"]) if account.get("scope") is not None else "*"
    groups = ",".join(account["groups"]) or "-"
    expires = account.get("expires_at") or "never"
    return f"{account['name']:<24} {state:<8} groups={groups} scope={scope} expires={expires}"


def _print_secret(account: dict[str, Any]) -> None:
    print(f"client_id:     {account['client_id']}")
    print(f"client_secret: {account['client_secret']}")
    print("# the secret is shown once; store it where the agent or CI job reads it")


def cmd_sa_create(args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "groups": _csv(args.groups) or [],
        "scope": _csv(args.scope),
        "expires_in": args.expires,
        "secret_ttl": args.secret_ttl,
    }
    with _client() as api:
        _print_secret(api.call("POST", "/v1/service-accounts", body))
    return 0


def cmd_sa_rotate(args: argparse.Namespace) -> int:
    with _client() as api:
        account = api.call(
            "POST", f"/v1/service-accounts/{args.name}/rotate", {"secret_ttl": args.secret_ttl}
        )
    _print_secret(account)
    return 0


def cmd_sa_disable(args: argparse.Namespace) -> int:
    with _client() as api:
        account = api.call(
            "POST", f"/v1/service-accounts/{args.name}/disable", {"reason": args.reason}
        )
    print(f"service account {account['name']} is disabled; its sessions are ending")
    return 0


def cmd_sa_list(args: argparse.Namespace) -> int:
    with _client() as api:
        accounts = api.call("GET", "/v1/service-accounts")
    if args.json:
        print(json.dumps(accounts, indent=2))
    for account in [] if args.json else accounts:
        print(_account_line(account))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = "/v1/revocations/subjects" if args.what == "subject" else "/v1/revocations/tokens"
    key = "subject" if args.what == "subject" else "jti"
    with _client() as api:
        api.call("POST", path, {key: args.key, "reason": args.reason})
    print(f"{args.what} {args.key} is revoked; its sessions are ending")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = sub.add_parser("login", help="sign in at the OIDC issuer and cache the token")
    login.add_argument("--device", action="store_true", help="no browser here: use a code")
    login.add_argument("--no-browser", action="store_true", help="print the address instead")
    login.add_argument("--issuer", help="instead of asking the gateway (AIRLOCK_URL)")
    login.add_argument("--client-id")
    login.add_argument("--audience", help="the gateway's audience (default: the client id)")
    login.set_defaults(func=cmd_login)
    sub.add_parser("logout", help="forget the cached token").set_defaults(func=cmd_logout)
    sub.add_parser("whoami", help="who the gateway takes you for").set_defaults(func=cmd_whoami)

    accounts = sub.add_parser("service-account", help="agents' and CI jobs' accounts (admin)")
    sa = accounts.add_subparsers(dest="service_account", required=True)
    create = sa.add_parser("create", help="create an account; prints its secret once")
    create.add_argument("name")
    create.add_argument("--groups", default="", help="comma-separated")
    create.add_argument("--scope", help="comma-separated connections it may act on")
    create.add_argument("--expires", help="the account expires after this long (e.g. 90d)")
    create.add_argument("--secret-ttl", help="each secret expires after this long")
    create.set_defaults(func=cmd_sa_create)
    rotate = sa.add_parser("rotate", help="a new secret; the old one stops working")
    rotate.add_argument("name")
    rotate.add_argument("--secret-ttl")
    rotate.set_defaults(func=cmd_sa_rotate)
    disable = sa.add_parser("disable", help="refuse its tokens and end its sessions")
    disable.add_argument("name")
    disable.add_argument("--reason", required=True)
    disable.set_defaults(func=cmd_sa_disable)
    lst = sa.add_parser("list", help="every service account")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_sa_list)

    revoke = sub.add_parser("revoke", help="revoke a person or a token (admin)")
    revoke.add_argument("what", choices=["subject", "token"])
    revoke.add_argument("key", help="the subject (e-mail) or the token's jti")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(func=cmd_revoke)
