"""An answer's head and body leave in one write (http_protocol.HeadWithBody): uvicorn writes them
separately, and every write on a TCP connection is a system call and, on loopback, a wake-up of the
reader. The adapter must never lose, reorder or hold back bytes."""

import asyncio

from watcher_server.http_protocol import HeadWithBody

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n"


class RecordingTransport:
    """What the socket would be sent, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_head_and_its_body_written_in_one_turn_leave_in_one_write():
    transport = RecordingTransport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())

    writer.write(HEAD)
    writer.write(b"{}")
    await asyncio.sleep(0)

    assert transport.writes == [HEAD + b"{}"]


async def test_a_head_whose_body_is_late_leaves_alone_at_the_end_of_the_loops_turn():
    transport = RecordingTransport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())

    writer.write(bytearray(HEAD))
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [HEAD]
    writer.write(b"{}")

    assert transport.writes == [HEAD, b"{}"]


async def test_closing_writes_a_held_head_first_and_other_writes_pass_straight_through():
    transport = RecordingTransport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())

    writer.write(b"0\r\n")
    assert transport.writes == [b"0\r\n"]
    writer.write(HEAD)
    writer.close()

    assert transport.writes == [b"0\r\n", HEAD] and transport.closed
    assert writer.is_closing()
    await asyncio.sleep(0)
    assert transport.writes == [b"0\r\n", HEAD]
