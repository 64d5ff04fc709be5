"""The outbound URL policy's pure half: which URLs pass before any lookup, and which addresses are not public."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thorbot.domain.url_policy import MAX_URL_LENGTH, Target, address_kind, read_url, shown_url, url_problem

INSIDE = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
          "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "192.0.2.0/24", "198.18.0.0/15"]


@pytest.mark.parametrize(("url", "why"), [
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://10.0.0.5/hook", "private"), ("https://172.16.3.4/", "private"), ("https://192.168.1.1/", "private"),
    ("https://100.64.0.1/", "private"), ("https://127.0.0.1:6379/", "loopback"), ("http://127.0.0.1:6379/", "loopback"),
    ("https://localhost/hook", "loopback"), ("https://api.localhost/", "loopback"),
    ("https://0.0.0.0/", "unspecified"), ("https://[::]/", "unspecified"), ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"), ("https://255.255.255.255/", "reserved"), ("https://192.0.2.7/", "reserved"),
    ("https://[::1]/", "loopback"), ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:a00:5]/", "private"),
    ("https://[::ffff:169.254.169.254]/", "link-local"), ("https://[fe80::1]/", "link-local"),
    ("https://[fd12:3456::1]/", "private"), ("https://[fec0::1]/", "private"), ("https://[::7f00:1]/", "reserved"),
    ("https://[2002:a00:5::1]/", "private"), ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),  # 6to4, NAT64
    ("https://[2001:db8::1]/", "reserved"), ("https://[fe80::1%25eth0]/", "interface"),
    ("https://127.1/", "four decimal"), ("https://2130706433/", "four decimal"),
    ("https://0x7f.0.0.1/", "four decimal"),
    ("https://017700000001/", "four decimal"), ("https://127.000.000.001/", "four decimal"),
    ("https://ops:hunter2@hooks.example.com/", "user name or password"), ("https://ops@hooks.example.com/", "password"),
    ("not a url", "space"), ("", "empty"), ("ftp://hooks.example.com/", "https://"), ("javascript:alert(1)", "https://"),
    ("http://hooks.example.com/hook", "https://"), ("https://hooks.example.com\\@10.0.0.5/", "backslash"),
    ("https://hooks.exämple.com/", "ASCII"), ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, "longer"),
    ("https://hooks.example.com:99999/", "port"), ("https://hooks.example.com:0/", "port"), ("https:///x", "no host"),
    ("https://a..b/", "not a valid name"), ("https://-x.example.com/", "not a valid name"),
])
def test_a_url_thorbot_will_not_send_to_is_refused_with_why(url: str, why: str) -> None:
    problem = url_problem(url, allow_loopback=False)
    assert problem is not None and why in problem, problem
    assert "hunter2" not in problem and "meta-data" not in problem and "/hook" not in problem


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example.com/services/T0/B0/tok?x=1", "https://hooks.example.com"),
    ("HTTPS://Hooks.Example.COM:8443/p", "https://hooks.example.com:8443"),
    ("https://93.184.215.14/hook", "https://93.184.215.14"), ("https://[2606:4700::1]:8443/", "https://[2606:4700::1]:8443"),
    ("https://[2002:808:808::1]/", "https://[2002:808:808::1]"),  # 6to4 of a public address
    ("https://hooks.example.com./x", "https://hooks.example.com"),
])
def test_a_public_https_url_passes_and_is_shown_as_its_scheme_and_host(url: str, shown: str) -> None:
    target = read_url(url, allow_loopback=False)
    assert isinstance(target, Target) and target.shown == shown


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://127.0.0.1:6379/", "http://localhost:3000/",
                                 "http://[::1]:9/", "http://[::ffff:127.0.0.1]:9/", "https://localhost/"])
def test_the_opt_in_allows_loopback_and_plain_http_there_only(url: str) -> None:
    assert url_problem(url, allow_loopback=True) is None
    assert url_problem(url, allow_loopback=False) is not None


@pytest.mark.parametrize("url", ["https://10.0.0.5/", "http://10.0.0.5/", "https://169.254.169.254/",
                                 "http://hooks.example.com/", "https://[2002:7f00:1::]/", "https://[64:ff9b::7f00:1]/",
                                 "https://127.1/"])
def test_the_opt_in_still_refuses_everything_but_this_machine(url: str) -> None:
    assert url_problem(url, allow_loopback=True) is not None


@pytest.mark.parametrize(("url", "shown"), [
    ("https://ops:hunter2@hooks.example.com/tok", "https://hooks.example.com"),
    ("http://ops:hunter2@127.0.0.1:8080/tok", "http://127.0.0.1:8080"), ("garbage", "?"), (None, None),
])
def test_a_url_is_never_shown_with_its_credentials_path_or_query(url: str | None, shown: str | None) -> None:
    assert shown_url(url) == shown


@given(st.sampled_from(INSIDE).flatmap(lambda net: st.integers(int(ip_network(net)[0]), int(ip_network(net)[-1]))))
def test_every_address_inside_is_refused_whichever_way_it_is_written(value: int) -> None:
    address = IPv4Address(value)
    assert address_kind(address) is not None
    mapped = IPv6Address(f"::ffff:{address}")
    assert address_kind(mapped) == address_kind(address)
    for written in (f"https://{address}/", f"https://[{mapped}]/", f"https://{value}/", f"https://{hex(value)}/"):
        assert url_problem(written, allow_loopback=address_kind(address) != "loopback") is not None, written


@given(st.integers(0, 2**32 - 1))
def test_an_ipv4_address_is_public_only_outside_every_inside_range(value: int) -> None:
    address = IPv4Address(value)
    inside = any(address in ip_network(net) for net in INSIDE)
    assert (address_kind(address) is None) == (not inside and address.is_global and address not in
                                               ip_network("192.0.0.0/24") and address not in
                                               ip_network("198.51.100.0/24") and address not in
                                               ip_network("203.0.113.0/24") and address not in
                                               ip_network("192.88.99.0/24"))


def test_ipv6_outside_global_unicast_is_not_public() -> None:
    assert address_kind(ip_address("2606:4700::1")) is None
    assert address_kind(ip_address("4000::1")) == "reserved"
