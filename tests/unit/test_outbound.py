"""The outbound rule (eneo.core.outbound) and the transport that applies it when it connects (eneo.core.outbound_http).

What a deployment notices: a tenant's URL never makes the platform connect to its own network, metadata service or
loopback, whatever form the address takes, and a name that resolves there later (DNS rebinding) is refused at the
moment of connecting, before a packet reaches it.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

import httpcore2
import httpx2
import pytest

from eneo.core.outbound import AllowList, OutboundRefused, check_url, refusal, refusal_in
from eneo.core.outbound_http import GuardedBackend, GuardedTransport

REFUSED = {
    "127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback",
    "0.0.0.0": "unspecified",  # noqa: S104 - an address to refuse, nothing binds to it
    "::": "unspecified", "0.1.2.3": "not publicly routable",
    "10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.254": "private", "192.168.0.1": "private",
    "fd00:ec2::254": "private", "fc00::1": "private",  # AWS's IPv6 metadata address is a ULA
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "100.64.0.1": "CGNAT", "100.100.100.200": "CGNAT",  # Alibaba's metadata service
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "ff02::1": "multicast", "ff0e::1": "multicast",
    "255.255.255.255": "broadcast",
    "192.0.0.192": "not publicly routable",  # Oracle's metadata service (IETF protocol assignments)
    "198.18.0.1": "not publicly routable", "192.0.2.1": "not publicly routable", "240.0.0.1": "not publicly routable",
    "2001:db8::1": "not publicly routable",
    # IPv6 carrying an IPv4 address is judged by that address
    "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "link-local", "::ffff:10.0.0.1": "private",
    "::127.0.0.1": "loopback", "64:ff9b::a9fe:a9fe": "link-local", "2002:7f00:1::": "loopback",
}
PUBLIC = ["1.1.1.1", "8.8.8.8", "151.101.1.69", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_each_kind_of_internal_address_is_refused(address: str, kind: str) -> None:
    why = refusal(ipaddress.ip_address(address))
    assert why is not None and kind in why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_permitted(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_takes_names_addresses_and_networks() -> None:
    allow = AllowList.parse(" vLLM.internal , 10.0.0.0/8,127.0.0.1, [::1] ,")
    assert allow.allows_name("vllm.internal.") and not allow.allows_name("other.internal")
    assert allow.permits(ipaddress.ip_address("10.9.8.7")) and allow.permits(ipaddress.ip_address("127.0.0.1"))
    assert allow.permits(ipaddress.ip_address("::1")) and allow.permits(ipaddress.ip_address("8.8.8.8"))
    assert not allow.permits(ipaddress.ip_address("127.0.0.2"))
    assert not allow.permits(ipaddress.ip_address("169.254.169.254"))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://LocalHost./v1", "http://api.localhost/v1",
    "http://[::1]:8000/v1", "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://169.254.169.254/",
    "http://2130706433/v1", "http://0x7f.1/v1", "http://127.1/v1", "http://0/v1",  # other spellings of loopback
    "https://10.0.0.5/v1", "http://100.100.100.200/", "http://[fe80::1]/"])
async def test_urls_that_reach_inside_are_refused_when_saved(url: str) -> None:
    assert await check_url(url, AllowList()) is not None


async def test_public_unresolvable_and_allowed_urls_pass() -> None:
    assert await check_url("https://8.8.8.8/v1", AllowList()) is None
    assert await check_url("https://no-such-host.invalid/v1", AllowList()) is None, "checked again when connecting"
    assert await check_url("http://localhost:11434/v1", AllowList.parse("localhost")) is None
    assert await check_url("http://10.0.0.5:8000/v1", AllowList.parse("10.0.0.0/24")) is None
    assert await check_url("http://10.0.1.5:8000/v1", AllowList.parse("10.0.0.0/24")) is not None


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP server on 127.0.0.1 that counts nothing itself: the test asks it whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock, int(sock.getsockname()[1])
    sock.close()


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


async def test_a_name_that_resolves_to_loopback_when_connecting_is_refused_before_any_packet(
        listener: tuple[socket.socket, int]) -> None:
    """DNS rebinding: the name was public when saved; now it answers 127.0.0.1. Nothing reaches the listener."""
    sock, port = listener
    answers = {"rebind.example": [ipaddress.ip_address("127.0.0.1")]}

    async def resolver(host: str, _port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return list(answers[host])

    backend = GuardedBackend(resolver=resolver, allow=AllowList)
    with pytest.raises(OutboundRefused, match=r"rebind\.example resolves only to a loopback address"):
        await backend.connect_tcp("rebind.example", port, timeout=2)
    await asyncio.sleep(0.05)
    assert not connected(sock)

    # Through the HTTP client as the SDKs use it: the refusal comes out whole (eneo.llm maps it), nothing connects.
    client = httpx2.AsyncClient(transport=GuardedTransport(httpx2.Limits(max_connections=4), backend=backend))
    async with client:
        with pytest.raises(OutboundRefused) as caught:
            await client.get(f"http://rebind.example:{port}/v1/models")
    assert refusal_in(RuntimeError("wrapped")) is None and refusal_in(caught.value) is caught.value
    assert not connected(sock)

    # Mixed answers: only the permitted address is used; allowed by the deployment, the loopback one is too.
    allowed = GuardedBackend(resolver=resolver, allow=lambda: AllowList.parse("127.0.0.1"))
    stream = await allowed.connect_tcp("rebind.example", port, timeout=2)
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert connected(sock)


async def test_a_refused_host_answers_the_same_whatever_its_port(listener: tuple[socket.socket, int]) -> None:
    """No port scan: an open port (the listener) and a closed one give the same refusal, and nothing connects."""
    sock, open_port = listener
    backend = GuardedBackend(allow=AllowList)
    messages = []
    for port in (open_port, 9):
        with pytest.raises(OutboundRefused) as caught:
            await backend.connect_tcp("127.0.0.1", port, timeout=2)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] == "127.0.0.1 is a loopback address"
    assert not connected(sock)


async def test_resolution_failures_are_connection_errors() -> None:
    async def failing(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(httpcore2.ConnectError):
        await GuardedBackend(resolver=failing, allow=AllowList).connect_tcp("nowhere.invalid", 443, timeout=1)
