"""One deadline per operation (clients.deadline) against a loopback HTTPS server, with real requests."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from clients.databricks import DeadlineClock
from clients.deadline import Deadline, OutOfTime
from clients.transport import DeadlineTransport
from tests.fakes.server import LoopbackHttpsServer, Reply

# Slack for thread scheduling on a busy machine; a regression overshoots by the 20 s request timeout.
MARGIN = 1.0
REQUEST_TIMEOUT = 20.0


@pytest.fixture
def server(tls_material):
    replies: list[Reply] = []
    serving = LoopbackHttpsServer(lambda request: replies.pop(0) if replies else Reply(200, b"ok"), tls_material)
    serving.start()
    serving.replies = replies  # type: ignore[attr-defined]
    yield serving
    serving.stop()


def get(server, tls_material) -> requests.Response:
    return requests.get(server.base_url, timeout=REQUEST_TIMEOUT, verify=str(tls_material.ca_bundle))


def test_a_reply_trickling_past_the_deadline_is_cut_off_there(server, tls_material):
    # One byte per 0.1 s: each receive is far inside the 20 s read timeout.
    server.replies.append(Reply(200, b"x" * 200, trickle=0.1))
    started = time.monotonic()
    with Deadline(1.0), pytest.raises(requests.RequestException):
        get(server, tls_material)
    assert time.monotonic() - started < 1.0 + MARGIN


def test_a_stalled_tls_handshake_is_cut_off_at_the_deadline(server, tls_material):
    server.stall_handshakes(60.0)
    started = time.monotonic()
    with Deadline(1.0), pytest.raises(requests.RequestException):
        get(server, tls_material)
    assert time.monotonic() - started < 1.0 + MARGIN


def test_no_connection_is_opened_after_the_deadline():
    with Deadline(0.1):
        time.sleep(0.2)
        with pytest.raises(OutOfTime, match="no connection is opened after"):
            socket.socket()
    socket.socket().close()  # outside any deadline, sockets are the process's own business


def test_a_sooner_deadline_ends_its_step_and_leaves_the_rest_of_the_budget(server, tls_material):
    server.replies.extend([Reply(200, b"x" * 200, trickle=0.1), Reply(200, b"second")])
    started = time.monotonic()
    with Deadline(3.0) as whole:
        with whole.sooner(2.0), pytest.raises(requests.RequestException):
            get(server, tls_material)
        assert time.monotonic() - started < 1.0 + MARGIN
        assert get(server, tls_material).text == "second", "the rest of the budget is still usable"


def test_sockets_of_other_threads_are_left_alone(server, tls_material):
    server.replies.append(Reply(200, b"x" * 12, trickle=0.1))
    outcome: dict[str, object] = {}

    def elsewhere() -> None:
        outcome["body"] = get(server, tls_material).text

    other = threading.Thread(target=elsewhere)
    with Deadline(0.3):
        other.start()
        time.sleep(0.6)  # the deadline fires while the other thread's reply is still trickling
    other.join(10)
    assert outcome.get("body") == "x" * 12


def test_the_sdk_clock_caps_a_pause_and_refuses_one_that_would_end_past_the_deadline():
    clock = DeadlineClock(max_pause=0.1)
    with Deadline(5.0):
        started = time.monotonic()
        clock.sleep(3600)  # Retry-After: 3600, capped
        assert time.monotonic() - started < 0.1 + MARGIN
    patient = DeadlineClock(max_pause=30.0)
    with Deadline(1.0):
        started = time.monotonic()
        with pytest.raises(OutOfTime) as raised:
            patient.sleep(5.0)
        assert time.monotonic() - started < 0.1, "refused at once, not after sleeping"
    assert raised.value.wanted_pause == 5.0
    assert clock.pauses == 1 and patient.pauses == 0


def test_the_azure_core_transport_refuses_a_retry_pause_past_the_deadline():
    transport = DeadlineTransport(max_pause=30.0)
    with Deadline(1.0), pytest.raises(OutOfTime):
        transport.sleep(3600)
    with Deadline(5.0):
        started = time.monotonic()
        DeadlineTransport(max_pause=0.1).sleep(3600)
        assert time.monotonic() - started < 0.1 + MARGIN


def test_run_stops_waiting_at_the_deadline_and_passes_results_and_errors_on():
    started = time.monotonic()
    with Deadline(0.3) as deadline:
        with pytest.raises(OutOfTime, match="the slow call did not finish"):
            deadline.run(lambda: time.sleep(5), "the slow call")
    assert time.monotonic() - started < 0.3 + MARGIN
    with Deadline(5.0) as deadline:
        assert deadline.run(lambda: 42, "a quick call") == 42
        with pytest.raises(ZeroDivisionError):
            deadline.run(lambda: 1 / 0, "a failing call")


def test_a_pooled_connection_is_never_reused_unwatched_by_a_later_deadline(server, tls_material):
    # A client that keeps its connections between operations hangs up at the end of each: the next operation
    # opens a socket of its own, which its deadline can cut.
    server.replies.extend([Reply(200, b"first"), Reply(200, b"x" * 200, trickle=0.1)])
    with requests.Session() as session:
        with Deadline(5.0) as first:
            assert session.get(server.base_url, timeout=REQUEST_TIMEOUT, verify=str(tls_material.ca_bundle)).ok
            first.hang_up()
        started = time.monotonic()
        with Deadline(1.0), pytest.raises(requests.RequestException):
            session.get(server.base_url, timeout=REQUEST_TIMEOUT, verify=str(tls_material.ca_bundle))
    assert time.monotonic() - started < 1.0 + MARGIN


def test_a_request_sent_on_a_thread_the_sdk_started_is_cut_at_the_operations_deadline(server, tls_material):
    # An SDK's poller thread does not inherit the operation's context; the transport given the deadline
    # makes that thread's sockets the watchdog's too.
    from azure.core.rest import HttpRequest

    server.replies.append(Reply(200, b"x" * 200, trickle=0.1))
    outcome: dict[str, object] = {}
    with Deadline(1.0) as deadline:
        transport = DeadlineTransport(max_pause=1.0, deadline=deadline, read_timeout=REQUEST_TIMEOUT)

        def poller() -> None:
            started = time.monotonic()
            try:
                transport.send(HttpRequest("GET", server.base_url), connection_verify=str(tls_material.ca_bundle))
                outcome["ended"] = "with a reply"
            except Exception as error:  # noqa: BLE001 - any failure is the cut
                outcome["ended"] = type(error).__name__
            outcome["took"] = time.monotonic() - started

        thread = threading.Thread(target=poller)
        thread.start()
        thread.join(30)
    assert outcome.get("ended") != "with a reply"
    assert outcome["took"] < 1.0 + MARGIN, f"the poller's request ran {outcome['took']:.1f}s past a 1 s deadline"
