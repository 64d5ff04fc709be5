"""ThorClient against the fake Thor over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import THOR_KEY
from thorbot.adapters.thor import WHOLE_LIST_BYTES, ThorClient, chargebox_path, error_code
from thorbot.domain.models import parse_chargebox
from thorbot.domain.replies import describe_thor_error
from thorbot.errors import ChargeboxNotFound, ThorAccessDenied, ThorBadResponse, ThorError, ThorUnavailable
from thorbot.sim.thor_server import FakeThor


@pytest.fixture
async def thor(fake_thor: FakeThor) -> AsyncIterator[ThorClient]:
    client = ThorClient(fake_thor.base_url, THOR_KEY, timeout=0.5, retries=2, backoff=0.01)
    yield client
    await client.aclose()


@pytest.mark.parametrize("body", ["APIKeyNotFound", '"APIKeyNotFound"', '{"message": "APIKeyNotFound"}',
                                  '{"error": {"message": "APIKeyNotFound"}}', '{"code":"APIKeyNotFound"}'])
def test_error_code_accepts_plain_or_json(body: str) -> None:
    assert error_code(body) == "APIKeyNotFound"


def test_error_code_of_an_unknown_body() -> None:
    assert error_code("<html>Bad gateway</html>") is None
    assert error_code('{"message": "SomethingNew"}') == "SomethingNew"


@pytest.mark.parametrize(("box_id", "path"), [("abc", "/chargeboxes/abc"), ("..", "/chargeboxes/%2E%2E"),
                                              ("../x", "/chargeboxes/%2E%2E%2Fx"), ("a?b#c", "/chargeboxes/a%3Fb%23c"),
                                              ("%2e", "/chargeboxes/%252e")])
def test_ids_are_one_path_segment(box_id: str, path: str) -> None:
    assert chargebox_path(box_id) == path


async def test_reads_a_box_and_sends_the_key(thor: ThorClient, fake_thor: FakeThor) -> None:
    sim = next(iter(fake_thor.fleet.boxes.values()))
    box = await thor.get_chargebox(sim.id)
    assert box.id == sim.id and box.alias == sim.alias and len(box.connectors) == len(sim.connectors)
    assert fake_thor.log.api_keys == [THOR_KEY]


async def test_list_reads_every_box(thor: ThorClient, fake_thor: FakeThor) -> None:
    assert {b.id for b in await thor.list_chargeboxes()} == set(fake_thor.fleet.boxes)


async def test_list_without_live_fields_is_flagged(thor: ThorClient, fake_thor: FakeThor) -> None:
    fake_thor.faults.list_live_fields = False
    assert not any(b.has_live_fields for b in await thor.list_chargeboxes())


async def test_not_found(thor: ThorClient) -> None:
    with pytest.raises(ChargeboxNotFound):
        await thor.get_chargebox("missing")


@pytest.mark.parametrize("token", ["APIKeyNotFound", "RestAPINotEnabled", "InvalidSourceIPAddr"])
async def test_access_errors_are_permanent_and_not_retried(thor: ThorClient, fake_thor: FakeThor, token: str) -> None:
    fake_thor.faults.error = token
    with pytest.raises(ThorAccessDenied) as caught:
        await thor.list_chargeboxes()
    assert caught.value.code == token and caught.value.permanent
    assert fake_thor.log.list_calls == 1


async def test_500_is_retried_then_reported(thor: ThorClient, fake_thor: FakeThor) -> None:
    fake_thor.faults.error = "InternalServerError"
    with pytest.raises(ThorUnavailable) as caught:
        await thor.list_chargeboxes()
    assert caught.value.code == "InternalServerError" and fake_thor.log.list_calls == 3


async def test_a_passing_500_is_absorbed_by_a_retry(thor: ThorClient, fake_thor: FakeThor) -> None:
    fake_thor.faults.error, fake_thor.faults.fail_next = "InternalServerError", 1
    assert len(await thor.list_chargeboxes()) == len(fake_thor.fleet.boxes)
    assert fake_thor.log.list_calls == 2


async def test_timeout_is_bounded(thor: ThorClient, fake_thor: FakeThor) -> None:
    fake_thor.faults.hang = True
    started = time.monotonic()
    with pytest.raises(ThorUnavailable) as caught:
        await thor.list_chargeboxes()
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 3


async def test_connection_refused_is_transient() -> None:
    client = ThorClient("http://127.0.0.1:9", THOR_KEY, timeout=0.5, retries=0)
    with pytest.raises(ThorUnavailable) as caught:
        await client.list_chargeboxes()
    await client.aclose()
    assert caught.value.code == "connect"
    assert THOR_KEY not in str(caught.value)


async def test_a_60_mb_single_box_body_is_refused(thor: ThorClient, fake_thor: FakeThor) -> None:
    sim = next(iter(fake_thor.fleet.boxes.values()))
    sim.alias = "x" * (60 * 1024 * 1024)
    with pytest.raises(ThorBadResponse) as caught:
        await thor.get_chargebox(sim.id)
    assert caught.value.code == "too_large"


async def test_a_list_over_its_cap_is_refused(fake_thor: FakeThor) -> None:
    client = ThorClient(fake_thor.base_url, THOR_KEY, retries=0, max_list_bytes=2000)
    try:
        with pytest.raises(ThorBadResponse) as caught:
            await client.list_chargeboxes()
    finally:
        await client.aclose()
    assert caught.value.code == "too_large"


async def test_a_404_on_the_list_path_says_check_thor_api_url(fake_thor: FakeThor) -> None:
    wrong = fake_thor.base_url.replace("/latest/integration", "/v1/integration")
    client = ThorClient(wrong, THOR_KEY, retries=0)
    try:
        with pytest.raises(ThorAccessDenied) as caught:
            await client.list_chargeboxes()
        with pytest.raises(ThorError) as single:
            await client.get_chargebox("abc")
    finally:
        await client.aclose()
    assert caught.value.code == "EndpointNotFound" and wrong in str(caught.value)
    text = describe_thor_error(caught.value)
    assert "THOR_API_URL" in text and wrong in text and "try again" not in text
    assert not isinstance(single.value, ChargeboxNotFound)  # a bare 404 is not a deleted box


async def test_concurrent_identical_calls_share_one_request(thor: ThorClient, fake_thor: FakeThor) -> None:
    fake_thor.faults.latency = 0.2
    box_id = next(iter(fake_thor.fleet.boxes))
    await asyncio.gather(*(thor.get_chargebox(box_id) for _ in range(20)),
                         *(thor.list_chargeboxes() for _ in range(20)))
    assert fake_thor.log.box_calls == 1 and fake_thor.log.list_calls == 1


@pytest.mark.parametrize("body", [b'[{"id": "a", "alias": "A", "connectors": [{"power": 1e400}]}]',
                                  b'[{"id": "a", "alias": "A", "connectors": [{"power": Infinity}]}]',
                                  b'[{"id": "a", "alias": "A", "connectors": [{"power": ' + b"9" * 500 + b"}]}]"],
                         ids=["1e400", "Infinity", "500-digit-int"])
@pytest.mark.parametrize("whole", [0, WHOLE_LIST_BYTES], ids=["streamed", "whole"])
async def test_numbers_the_stream_parser_refuses_are_read_leniently(body: bytes, whole: int) -> None:
    [box] = [parse_chargebox(raw) for raw in await served_list(body, whole)]
    assert box.alias == "A" and box.connectors[0].power_w is None and "connector #1 power" in box.unreadable


@pytest.mark.parametrize("envelope", [False, True], ids=["array", "envelope"])
async def test_a_small_list_read_whole_is_read_as_the_stream_reads_a_big_one(envelope: bool) -> None:
    items = [{"id": "a", "alias": "A", "connectors": [{"power": 22000, "token": "nayax-secret-1"}]},
             {"alias": "no id"}, {"id": ""}, {"id": True}, "not a box", {"id": 7, "connectors": "odd"},
             {"id": "b", "last_heartbeat": 18446744073709551615, "connected": True, "price": 0.25}]
    body = json.dumps({"count": len(items), "items": items} if envelope else items).encode()
    streamed, whole = await served_list(body, 0), await served_list(body, WHOLE_LIST_BYTES)
    assert streamed == whole and [e["id"] for e in whole] == ["a", 7, "b"]
    assert "nayax-secret-1" not in json.dumps(whole)


async def served_list(body: bytes, whole_list_bytes: int) -> list[dict[str, Any]]:
    """Thor's list as the poller reads it, from a server answering `body`."""
    from aiohttp import web

    from thorbot.sim.loopback import LoopbackServer

    app = web.Application()
    app.router.add_get("/chargeboxes", lambda _: web.Response(body=body, content_type="application/json"))
    server = await LoopbackServer(app).start()
    client = ThorClient(server.url, THOR_KEY, retries=0, whole_list_bytes=whole_list_bytes)
    try:
        return await client.list_raw()
    finally:
        await client.aclose()
        await server.stop()


@pytest.mark.parametrize("envelope", [True, False])
def test_charges_are_decoded_one_at_a_time_not_as_one_tree(envelope: bool) -> None:
    """A big `/charges/*` answer costs its models, not a whole tree of dicts besides (measured in bytes
    allocated, not in time): the memory at the peak, less what the result keeps, stays a fraction of the body."""
    import gc
    import json as json_
    import tracemalloc

    from thorbot.adapters.thor import _stream_sessions
    from thorbot.domain.sessions import parse_session

    items = [{"id": i, "chargebox": f"BOX{i % 5000:05d}", "connector": 1 + i % 2, "date_started": 1_700_000_000_000 + i,
              "energy": i * 3, "id_tag": "04AABBCCDD", "user": None, "note": "x" * 200} for i in range(20_000)]
    body = json_.dumps({"count": len(items), "items": items} if envelope else items).encode()
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    gc.collect()
    tracemalloc.start()
    try:
        sessions = _stream_sessions(chunks, parse_session)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sessions) == len(items) and sessions[5].transaction == 5
    assert peak - kept < len(body) / 4, (peak - kept, len(body))


def test_charges_thor_writes_with_infinity_are_read_leniently() -> None:
    from thorbot.adapters.thor import _stream_sessions
    from thorbot.domain.sessions import parse_session

    body = b'{"count": 2, "items": [{"id": 1, "chargebox": "B", "connector": 1, "date_started": 1700000000000, ' \
           b'"energy": Infinity}, {"id": 2, "chargebox": "B", "connector": 1, "date_started": 1700000000000, ' \
           b'"energy": 1e400}]}'
    sessions = _stream_sessions([body], parse_session)
    assert [s.transaction for s in sessions] == [1, 2] and all(s.energy_wh is None for s in sessions)
