"""Drives `tenantsync emulator serve` with Microsoft's own Python clients.

msal and azure-identity sign in (both fetch the tenant's OpenID Connect discovery document
first); msgraph-sdk then lists users with query options, follows users delta to its delta
link, resumes it after a change made through the emulator's admin interface, reads groups
delta with members, sends a JSON batch built with BatchRequestContent and creates an
invitation. The token is verified with the keys the discovery document publishes.

cli/tests/microsoft_sdks.rs starts the emulator and runs this script with the virtualenv of
scripts/python-env; it passes the emulator in these environment variables:

    TENANTSYNC_EMULATOR_URL            https://127.0.0.1:PORT
    TENANTSYNC_EMULATOR_CA             the emulator's CA certificate (PEM file)
    TENANTSYNC_EMULATOR_TENANT         a seeded tenant's id
    TENANTSYNC_EMULATOR_DOMAIN         its domain
    TENANTSYNC_EMULATOR_CLIENT_ID      an app registered in it
    TENANTSYNC_EMULATOR_CLIENT_SECRET  that app's secret

Each step prints one line; any failed expectation raises and the script exits non-zero.
"""

import asyncio
import os
import ssl
import sys
import uuid

import httpx
import jwt
import msal
import requests
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.groups.delta.delta_request_builder import (
    DeltaRequestBuilder as GroupsDeltaRequestBuilder,
)
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.users.delta.delta_request_builder import (
    DeltaRequestBuilder as UsersDeltaRequestBuilder,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

BASE = os.environ["TENANTSYNC_EMULATOR_URL"].rstrip("/")
CA = os.environ["TENANTSYNC_EMULATOR_CA"]
TENANT = os.environ["TENANTSYNC_EMULATOR_TENANT"]
DOMAIN = os.environ["TENANTSYNC_EMULATOR_DOMAIN"]
CLIENT_ID = os.environ["TENANTSYNC_EMULATOR_CLIENT_ID"]
CLIENT_SECRET = os.environ["TENANTSYNC_EMULATOR_CLIENT_SECRET"]
# The authority host as azure-identity takes it: host and port, no scheme.
AUTHORITY_HOST = BASE.split("://", 1)[1]


def step(message):
    print(f"ok: {message}", flush=True)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def https_session():
    """A requests session that trusts the emulator's CA (msal and the admin calls)."""
    session = requests.Session()
    session.verify = CA
    # Otherwise REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, when set, would replace `verify`.
    session.trust_env = False
    return session


def msal_token():
    """MSAL's confidential client: instance discovery at the emulator, then OIDC discovery."""
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=f"{BASE}/{TENANT}",
        # MSAL asks login.microsoftonline.com about any host it does not know; the emulator
        # serves the same instance discovery endpoint, so point MSAL at it.
        instance_discovery=f"{BASE}/common/discovery/instance",
        http_client=https_session(),
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    expect("access_token" in result, f"msal got no token: {result}")
    expect(
        app.authority.token_endpoint == f"{BASE}/{TENANT}/oauth2/v2.0/token",
        f"msal read the token endpoint from discovery: {app.authority.token_endpoint}",
    )
    step("msal ConfidentialClientApplication got a token (instance and OIDC discovery)")
    # The same library with instance discovery off, by domain name.
    plain = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=f"{BASE}/{DOMAIN}",
        instance_discovery=False,
        http_client=https_session(),
    )
    result = plain.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    expect("access_token" in result, f"msal (no instance discovery) got no token: {result}")
    step("msal with instance_discovery=False and a domain authority got a token")
    return result["access_token"]


def verify_with_published_keys(token):
    """The token verifies with the key the v2.0 discovery document's jwks_uri publishes."""
    session = https_session()
    doc = session.get(f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration").json()
    expect(doc["issuer"] == f"{BASE}/{TENANT}/v2.0", f"issuer: {doc['issuer']}")
    keys = session.get(doc["jwks_uri"]).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [k for k in keys if k["kid"] == kid]
    expect(matching, f"no published key has the token's kid {kid}")
    claims = jwt.decode(
        token,
        jwt.PyJWK(matching[0]).key,
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
        issuer=f"https://sts.windows.net/{TENANT}/",
    )
    expect(claims["tid"] == TENANT, f"tid: {claims['tid']}")
    step(f"the token verifies with the published key {kid}")


def sync_credential():
    """azure-identity's ClientSecretCredential (MSAL inside: OIDC discovery first)."""
    return ClientSecretCredential(
        TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        authority=AUTHORITY_HOST,
        # azure-identity can only turn instance discovery off, not point it elsewhere.
        disable_instance_discovery=True,
        connection_verify=CA,
    )


def graph_client(credential):
    """A GraphServiceClient on the emulator: its base URL, its CA, its host allowed."""
    context = ssl.create_default_context(cafile=CA)
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=context, timeout=30)
    )
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=[GRAPH_SCOPE],
        allowed_hosts=[AUTHORITY_HOST.split(":")[0]],
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{BASE}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


async def list_users(client):
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "displayName", "accountEnabled", "userPrincipalName"],
        filter="accountEnabled eq true",
        top=5,
    )
    page = await client.users.get(RequestConfiguration(query_parameters=query))
    expect(page and page.value, "no users")
    expect(len(page.value) == 5, f"$top=5 gave {len(page.value)}")
    expect(all(u.account_enabled for u in page.value), "$filter returned a disabled user")
    expect(all(u.job_title is None for u in page.value), "$select returned unselected properties")
    expect(page.odata_next_link, "a next link after 5 of the seeded users")
    step("users with $select, $filter and $top")


async def users_delta(client):
    session = https_session()
    query = UsersDeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["id", "displayName", "jobTitle"]
    )
    headers = {"Prefer": "odata.maxpagesize=10"}
    config = RequestConfiguration(query_parameters=query, headers=headers)
    page = await client.users.delta.get(config)
    seen = []
    pages = 1
    while page.odata_next_link:
        seen.extend(page.value or [])
        expect("/users/delta()?" in page.odata_next_link, page.odata_next_link)
        page = await client.users.delta.with_url(page.odata_next_link).get()
        pages += 1
    seen.extend(page.value or [])
    delta_link = page.odata_delta_link
    expect(delta_link and "/users/delta()?$deltatoken=" in delta_link, f"delta link {delta_link}")
    state = session.get(f"{BASE}/_emulator/tenants/{TENANT}/state").json()
    expect(
        {u.id for u in seen} == {u["id"] for u in state["users"]},
        "the initial delta round returns every user",
    )
    expect(pages > 1, "paged with odata.maxpagesize")
    step(f"users delta: {len(seen)} users in {pages} pages to the delta link")

    # Changes through the admin interface, then the delta link.
    changed = seen[0].id
    r = session.patch(
        f"{BASE}/_emulator/tenants/{TENANT}/users/{changed}",
        json={"jobTitle": "Delta Tester"},
    )
    expect(r.status_code == 204, f"admin PATCH: {r.status_code} {r.text}")
    alias = f"new.hire.{uuid.uuid4().hex[:8]}"
    r = session.post(
        f"{BASE}/_emulator/tenants/{TENANT}/users",
        json={
            "userPrincipalName": f"{alias}@{DOMAIN}",
            "displayName": "New Hire",
            "mail": f"{alias}@{DOMAIN}",
        },
    )
    expect(r.status_code == 201, f"admin POST: {r.status_code} {r.text}")
    created = r.json()["id"]
    page = await client.users.delta.with_url(delta_link).get()
    by_id = {u.id: u for u in page.value or []}
    expect(set(by_id) == {changed, created}, f"delta after changes: {sorted(by_id)}")
    expect(by_id[changed].job_title == "Delta Tester", "the change shows")
    expect(by_id[created].display_name == "New Hire", "the new user shows")
    expect(page.odata_delta_link, "a new delta link")
    step("users delta link resumed: the changed and the new user")


async def groups_delta(client):
    query = GroupsDeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["displayName", "members"]
    )
    page = await client.groups.delta.get(RequestConfiguration(query_parameters=query))
    groups = []
    while True:
        groups.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await client.groups.delta.with_url(page.odata_next_link).get()
    expect(page.odata_delta_link, "groups delta ends with a delta link")
    with_members = [g for g in groups if (g.additional_data or {}).get("members@delta")]
    expect(with_members, "groups carry members@delta")
    first = with_members[0].additional_data["members@delta"]
    expect(all("id" in m for m in first), f"members@delta entries: {first[:2]}")
    step(f"groups delta with members: {len(groups)} groups, {len(with_members)} with members")


async def batch(client):
    content = BatchRequestContent()
    users = BatchRequestItem(
        request_information=client.users.to_get_request_information(
            RequestConfiguration(
                query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                    select=["id"], top=2
                )
            )
        )
    )
    groups = BatchRequestItem(request_information=client.groups.to_get_request_information())
    org = BatchRequestItem(request_information=client.organization.to_get_request_information())
    for item in (users, groups, org):
        # BatchRequestItem keeps the absolute URL once the client has sent a request, and
        # Graph refuses absolute URLs in a batch with 400, as the emulator does
        # (github.com/microsoftgraph/msgraph-sdk-python/issues/1015): make them relative.
        item.url = item.url.removeprefix(f"{BASE}/v1.0")
        content.add_request(item.id, item)
    response = await client.batch.post(batch_request_content=content)
    codes = response.get_response_status_codes()
    bodies = {
        k: (v.body.getvalue() if v.body else None) for k, v in (response.responses or {}).items()
    }
    expect(len(codes) == 3 and set(codes.values()) == {200}, f"batch: {codes} {bodies}")
    step("JSON batch built with BatchRequestContent: 3 responses of 200")


async def invitation(client):
    address = f"guest.{uuid.uuid4().hex[:8]}@partner.example"
    made = await client.invitations.post(
        Invitation(
            invited_user_email_address=address,
            invite_redirect_url="https://myapps.microsoft.com",
            invited_user_display_name="Partner Guest",
        )
    )
    expect(made.status == "PendingAcceptance", f"invitation status {made.status}")
    expect(made.invited_user and made.invited_user.id, "the invited user's id")
    user = await client.users.by_user_id(made.invited_user.id).get()
    expect(user.mail == address, f"invited user's mail {user.mail}")
    step("POST /invitations created the guest")


async def graph_steps():
    credential = sync_credential()
    token = credential.get_token(GRAPH_SCOPE).token
    expect(token.count(".") == 2, "azure-identity returned a JWT")
    step("azure-identity ClientSecretCredential (MSAL, OIDC discovery) got a token")
    async with AsyncClientSecretCredential(
        TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        authority=AUTHORITY_HOST,
        connection_verify=CA,
    ) as async_credential:
        await async_credential.get_token(GRAPH_SCOPE)
    step("azure-identity aio ClientSecretCredential got a token")

    client = graph_client(credential)
    await list_users(client)
    await users_delta(client)
    await groups_delta(client)
    await batch(client)
    await invitation(client)


def main():
    token = msal_token()
    verify_with_published_keys(token)
    asyncio.run(graph_steps())
    print("all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
