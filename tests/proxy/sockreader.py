"""sockreader.py - buffered reads over a socket, shared by the proxy suite's
client (client.py) and upstream (upstream.py): lines, exact counts, whatever
is there, everything to the end."""

import socket


class Closed(Exception):
    pass


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise Closed()
        self.buf += data

    def line(self, limit=65536):
        """One line, its LF included; Closed past `limit` bytes without one."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return out
            if len(self.buf) > limit:
                raise Closed()
            self.fill()

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def some(self, n):
        """Up to n bytes: what is buffered, or one read's worth."""
        if not self.buf:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        """Everything until the peer closes."""
        try:
            while True:
                self.fill()
        except (Closed, ConnectionError):
            pass
        out, self.buf = self.buf, b""
        return out

    def closed(self, timeout):
        """True when the peer closes within timeout with nothing more sent."""
        self.sock.settimeout(timeout)
        try:
            if self.buf:
                return False
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
